//! Command line: the daemon, and its `status`, `check-config`, `demo` and `simulate` helpers.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use aggregate_shunts::config::{Config, Loaded, error_count};
use aggregate_shunts::daemon::{self, Exit};
use aggregate_shunts::status;
#[cfg(feature = "tools")]
use aggregate_shunts::tools::{demo, dryrun, simulate};

const USAGE: &str = "\
usage: dbus-aggregate-smartshunts [--config FILE | --config-dir DIR] [COMMAND]

Without COMMAND, runs the daemon on the system bus (DBUS_SYSTEM_BUS_ADDRESS is honoured).
Without --config it reads config.default.ini, then config.ini, from the binary's directory;
--config-dir DIR reads them from DIR; --config FILE reads only FILE.

commands:
  status                 print the aggregate and its members from the bus (exit 1 if absent)
  forget NAME|INSTANCE|SERIAL|all
                         make the running aggregate forget a member that is offline for good
                         (all: every member that is not online)
  check-config [FILE]    print the effective settings and where each comes from (a file,
                         built-in, or the GUI), or every error (exit 1 on error)
  restore-system         undo what HIDE_MEMBER_SHUNTS and SELECT_BATTERY_MONITOR changed in
                         the system settings (the uninstaller runs it)
  demo [--duration S]    private bus, simulated SmartShunts, the daemon and a live view
  simulate --shunt PORT:INSTANCE:CAPACITY_AH:CURRENT_A [--shunt ...]
                         serve simulated SmartShunts on the bus until stopped
  simulate-charge [--config FILE] [--svg FILE] [--member AH ...]
                         dry run of the virtual BMS over a simulated charge cycle, no bus
  --version, --help";

enum Source {
    Dir(PathBuf),
    File(PathBuf),
}

impl Source {
    fn files(&self) -> Vec<(PathBuf, bool)> {
        match self {
            Source::Dir(d) => vec![(d.join("config.default.ini"), false), (d.join("config.ini"), false)],
            Source::File(f) => vec![(f.clone(), true)],
        }
    }
}

/// The system bus, within a few seconds (a client command must never hang on it).
async fn connect() -> Result<zbus::Connection, String> {
    match aggregate_shunts::rt::timeout(std::time::Duration::from_secs(3), aggregate_shunts::rt::system()).await {
        Some(Ok(c)) => Ok(c),
        Some(Err(e)) => Err(format!("cannot connect to the system bus: {e}")),
        None => Err("the system bus did not answer within 3 s".into()),
    }
}

/// Loads the configuration, or prints every error (in file and line order) and then the
/// line `last` makes of their count.
fn load(source: &Source, last: fn(usize) -> String) -> Result<Loaded, ExitCode> {
    Config::load(&source.files()).map_err(|errors| {
        for e in &errors {
            eprintln!("config error: {e}");
        }
        eprintln!("{}", last(errors.len()));
        ExitCode::from(1)
    })
}

fn init_logging(level: log::LevelFilter) {
    // Under daemontools, multilog adds TAI64N stamps; wall-clock stamps only for a terminal.
    let stamp = std::io::stdout().is_terminal();
    let result = fern::Dispatch::new()
        .level(level)
        .format(move |out, msg, rec| {
            let target = rec.target().rsplit("::").next().unwrap_or("");
            if stamp {
                out.finish(format_args!("{} {:<5} [{target}] {msg}", chrono::Local::now().format("%Y-%m-%d %H:%M:%S%.3f"), rec.level()))
            } else {
                out.finish(format_args!("{:<5} [{target}] {msg}", rec.level()))
            }
        })
        .chain(std::io::stdout())
        .apply();
    if let Err(e) = result {
        eprintln!("logging not set up: {e}");
    }
}

fn run_daemon(source: &Source) -> ExitCode {
    let not_starting = |n| format!("not starting: {} in the configuration", error_count(n));
    let loaded = match load(source, not_starting) {
        Ok(l) => l,
        Err(code) => return code,
    };
    init_logging(loaded.config.log_level);
    for w in &loaded.warnings {
        log::warn!("config: {w}");
    }
    let exit = aggregate_shunts::rt::block_on(async {
        match connect().await {
            Ok(conn) => daemon::run(loaded, conn).await,
            Err(e) => Exit::BusLost(e),
        }
    });
    match exit {
        Exit::Stopped => ExitCode::SUCCESS,
        Exit::NameTaken => {
            log::error!("{exit}");
            ExitCode::from(2)
        }
        Exit::BusLost(_) => {
            log::error!("{exit}; exiting so the supervisor restarts us");
            ExitCode::from(1)
        }
    }
}

/// Ends with the count of errors ("1 error", "3 errors") when there are any.
fn check_config(source: &Source) -> ExitCode {
    match load(source, error_count) {
        Ok(loaded) => {
            for w in &loaded.warnings {
                println!("# warning: {w}");
            }
            // The values set on the GX display, when this runs where localsettings is.
            let gui = aggregate_shunts::rt::block_on(async {
                let conn = connect().await?;
                status::gui_values(&conn).await
            });
            let gui = gui.unwrap_or_else(|why| {
                println!("# values set in the GUI: not read ({why}); the files' values follow");
                Default::default()
            });
            print!("{}", status::explain(&loaded, &gui, true));
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}

/// `simulate-charge [--config FILE] [--svg FILE] [--member AH ...]`: the dry run.
#[cfg(feature = "tools")]
fn simulate_charge(source: Source, args: &[String]) -> ExitCode {
    let (mut source, mut svg, mut capacities) = (source, None, Vec::new());
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match (a.as_str(), it.next()) {
            ("--config", Some(f)) => source = Source::File(PathBuf::from(f)),
            ("--svg", Some(f)) => svg = Some(PathBuf::from(f)),
            ("--member", Some(ah)) => match ah.parse::<f64>() {
                Ok(ah) if ah > 0.0 => capacities.push(ah),
                _ => {
                    eprintln!("--member takes a capacity in Ah, e.g. --member 200");
                    return ExitCode::from(1);
                }
            },
            _ => {
                eprintln!("{USAGE}");
                return ExitCode::from(1);
            }
        }
    }
    let cfg = match load(&source, error_count) {
        Ok(loaded) => loaded.config,
        Err(code) => return code,
    };
    if capacities.is_empty() {
        // TOTAL_CAPACITY split over two batteries, or two of 100 Ah.
        let total = cfg.total_capacity.unwrap_or(200.0);
        capacities = vec![total / 2.0; 2];
    }
    match dryrun::run(&cfg, &capacities) {
        Ok((table, samples)) => {
            print!("{table}");
            if let Some(path) = svg {
                if let Err(e) = std::fs::write(&path, dryrun::svg(&samples)) {
                    eprintln!("{}: {e}", path.display());
                    return ExitCode::from(1);
                }
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("simulate-charge: {e}");
            ExitCode::from(1)
        }
    }
}

fn status_cmd(source: &Source) -> ExitCode {
    let files = Config::load(&source.files()).ok();
    let result = aggregate_shunts::rt::block_on(async {
        let conn = connect().await?;
        let mut table = status::render(&conn).await?;
        if let Some(files) = &files {
            table.push_str("\n  Settings the GUI can change (and where each value comes from):\n");
            let gui = status::gui_values(&conn).await.unwrap_or_else(|why| {
                table.push_str(&format!("    # values set in the GUI: not read ({why})\n"));
                Default::default()
            });
            for line in status::explain(files, &gui, false).lines() {
                table.push_str(&format!("    {line}\n"));
            }
        }
        Ok::<_, String>(table)
    });
    match result {
        Ok(table) => {
            print!("{table}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(1)
        }
    }
}

/// `restore-system` (see `daemon::system::restore`).
fn restore_system_cmd() -> ExitCode {
    init_logging(log::LevelFilter::Info);
    let result = aggregate_shunts::rt::block_on(async { daemon::system::restore(&connect().await?).await });
    report("restore-system", result)
}

fn forget_cmd(target: &str) -> ExitCode {
    let result = aggregate_shunts::rt::block_on(async { status::forget(&connect().await?, target).await });
    report("forget", result)
}

/// A client command's outcome: its text on stdout (exit 0), or why it failed on stderr (1).
fn report(command: &str, result: Result<String, String>) -> ExitCode {
    match result {
        Ok(done) => {
            println!("{done}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{command}: {e}");
            ExitCode::from(1)
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let exe_dir = std::env::current_exe().ok().and_then(|p| p.parent().map(Path::to_path_buf)).unwrap_or_else(|| PathBuf::from("."));
    let mut source = Source::Dir(exe_dir);
    let mut rest = args.as_slice();
    loop {
        match rest {
            [flag, v, tail @ ..] if flag == "--config" => {
                source = Source::File(PathBuf::from(v));
                rest = tail;
            }
            [flag, v, tail @ ..] if flag == "--config-dir" => {
                source = Source::Dir(PathBuf::from(v));
                rest = tail;
            }
            _ => break,
        }
    }
    match rest {
        [] => run_daemon(&source),
        [c] if c == "status" => status_cmd(&source),
        [c, target] if c == "forget" => forget_cmd(target),
        [c] if c == "restore-system" => restore_system_cmd(),
        [c] if c == "check-config" => check_config(&source),
        [c, file] if c == "check-config" => check_config(&Source::File(PathBuf::from(file))),
        #[cfg(feature = "tools")]
        [c, tail @ ..] if c == "demo" => match tail {
            [] => demo::run(None),
            [f, s] if f == "--duration" => match s.parse::<u64>() {
                Ok(s) => demo::run(Some(std::time::Duration::from_secs(s))),
                Err(_) => {
                    eprintln!("--duration takes whole seconds");
                    ExitCode::from(1)
                }
            },
            _ => {
                eprintln!("{USAGE}");
                ExitCode::from(1)
            }
        },
        #[cfg(feature = "tools")]
        [c, tail @ ..] if c == "simulate" => {
            init_logging(log::LevelFilter::Info);
            simulate::run(tail, USAGE)
        }
        #[cfg(feature = "tools")]
        [c, tail @ ..] if c == "simulate-charge" => simulate_charge(source, tail),
        #[cfg(not(feature = "tools"))]
        [c, ..] if c == "demo" || c == "simulate" || c == "simulate-charge" => {
            eprintln!("'{c}' is a development tool, not part of the device build (build with the 'tools' feature)");
            ExitCode::from(1)
        }
        [c] if c == "--version" => {
            println!("dbus-aggregate-smartshunts {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        [c] if c == "--help" || c == "-h" => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(1)
        }
    }
}
