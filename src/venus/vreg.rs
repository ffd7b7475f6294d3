//! VE.Direct register access through a device's `/Devices/0/VregLink` object
//! (`com.victronenergy.VregLink.GetVreg(q) -> (q error, ay data)`, error 0 = OK).

use zbus::Connection;

pub const VREGLINK_PATH: &str = "/Devices/0/VregLink";
pub const VREGLINK_IFACE: &str = "com.victronenergy.VregLink";
/// Battery capacity in Ah, u16 little-endian.
pub const REG_BATTERY_CAPACITY: u16 = 0x1000;

/// Reads one register; `Ok(None)` when the device answered with an error code or no data.
pub async fn get_vreg(conn: &Connection, service: &str, register: u16) -> zbus::Result<Option<Vec<u8>>> {
    let reply = conn.call_method(Some(service), VREGLINK_PATH, Some(VREGLINK_IFACE), "GetVreg", &(register,)).await?;
    let (error, data): (u16, Vec<u8>) = reply.body().deserialize()?;
    Ok((error == 0 && !data.is_empty()).then_some(data))
}

/// The battery capacity register (0x1000) in Ah, if the device reports a usable one.
pub async fn battery_capacity(conn: &Connection, service: &str) -> zbus::Result<Option<f64>> {
    let data = get_vreg(conn, service, REG_BATTERY_CAPACITY).await?;
    Ok(data
        .and_then(|d| match d.as_slice() {
            [lo, hi, ..] => Some(u16::from_le_bytes([*lo, *hi])),
            _ => None,
        })
        .filter(|&ah| ah > 0)
        .map(f64::from))
}
