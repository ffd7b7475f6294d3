//! The runtime: one executor, driven on the calling thread, runs every task, zbus's own
//! connection tasks included (zbus's internal executor thread is switched off).
//!
//! Why: a signal used to hop from zbus's thread to smol's executor thread to the main thread,
//! and profiling showed a third of the daemon's CPU in futex wake-ups and task switches. On one
//! thread a member's change is read, aggregated and published without a thread switch, which
//! matters on a busy 2-core GX board.

use std::future::Future;

use smol::{Executor, Task};
use zbus::Connection;

static EXECUTOR: Executor<'static> = Executor::new();

/// Runs `future` to completion on this thread, running every spawned task alongside it.
pub fn block_on<T>(future: impl Future<Output = T>) -> T {
    smol::block_on(EXECUTOR.run(future))
}

/// `future`'s output, or `None` if it has not finished within `limit` (the future is dropped).
pub async fn timeout<T>(limit: std::time::Duration, future: impl Future<Output = T>) -> Option<T> {
    let timer = async {
        smol::Timer::after(limit).await;
        None
    };
    smol::future::or(async { Some(future.await) }, timer).await
}

/// Spawns a task onto the executor that [`block_on`] drives.
pub fn spawn<T: Send + 'static>(future: impl Future<Output = T> + Send + 'static) -> Task<T> {
    EXECUTOR.spawn(future)
}

/// Finishes a connection builder with zbus's executor driven by ours. The ticking task holds
/// only zbus's executor, not the connection, so dropping the connection still closes it.
pub async fn connect(builder: zbus::connection::Builder<'_>) -> zbus::Result<Connection> {
    let conn = builder.internal_executor(false).build().await?;
    let zbus_executor = conn.executor().clone();
    spawn(async move {
        loop {
            zbus_executor.tick().await;
        }
    })
    .detach();
    Ok(conn)
}

/// The system bus (honours `DBUS_SYSTEM_BUS_ADDRESS`).
pub async fn system() -> zbus::Result<Connection> {
    connect(zbus::connection::Builder::system()?).await
}

/// A bus by address (private buses in the demo, tests and benchmarks).
pub async fn address(address: &str) -> zbus::Result<Connection> {
    connect(zbus::connection::Builder::address(address)?).await
}
