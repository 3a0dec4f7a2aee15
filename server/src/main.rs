//! The `lotse` command: run the appliance (`serve`, `demo`), check a configuration,
//! measure it (`bench`). `anyhow` lives only here, at the edge.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use lotse_server::appliance::{Appliance, DemoPassword, shutdown_signal};
use lotse_server::clock::SystemClock;
use lotse_server::config::{ConfigError, Settings};

#[derive(Parser, Debug)]
#[command(
    name = "lotse",
    version,
    about = "Check-in appliance for integration centres"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run on simulated hardware with a seeded demo site.
    Demo {
        /// Address to listen on (default 127.0.0.1:8080; port 0 picks a free one).
        #[arg(long)]
        listen: Option<String>,
        /// Directory for the SQLite database and simulated devices.
        #[arg(long)]
        data: Option<PathBuf>,
        /// A normal config file whose values override the demo defaults.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Run in production with a configuration file. While the data directory holds a
    /// `needs-provisioning` marker, serve only the page that lists its problems.
    Serve {
        #[arg(long)]
        config: PathBuf,
        /// Data directory (default: the config's server.data_dir, else /var/lib/lotse).
        #[arg(long)]
        data: Option<PathBuf>,
        /// Address to listen on (default: the config's server.listen).
        #[arg(long)]
        listen: Option<String>,
    },
    /// Copy the database (consistent while the appliance runs) into FILE.
    Backup {
        #[arg(long)]
        to: PathBuf,
        /// Data directory (default: the config's server.data_dir, else /var/lib/lotse).
        #[arg(long)]
        data: Option<PathBuf>,
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Replace the database with a backup (stop the appliance first). Refuses a backup
    /// from a newer Lotse; the replaced database is kept in DATA/backups/.
    Restore {
        #[arg(long)]
        from: PathBuf,
        #[arg(long)]
        data: Option<PathBuf>,
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Validate lotse-provision.toml, apply it to ROOT and wipe its secrets from the boot
    /// partition; exit 2 and leave a needs-provisioning marker when it is invalid.
    Provision {
        file: PathBuf,
        /// The system to configure (a temporary directory in tests).
        #[arg(long, default_value = "/")]
        root: PathBuf,
    },
    /// Validate a configuration file and explain every problem.
    CheckConfig { file: PathBuf },
    /// Operator tools for scanned input.
    Scan {
        #[command(subcommand)]
        what: ScanCommand,
    },
    /// Staff accounts in the appliance's database (works while it runs).
    Account {
        #[command(subcommand)]
        what: AccountCommand,
    },
    /// API tokens for machine clients (case system pull feed, monitoring).
    Token {
        #[command(subcommand)]
        what: TokenCommand,
    },
    /// HTTPS certificates for the LAN.
    Tls {
        #[command(subcommand)]
        what: TlsCommand,
    },
    /// Delete personal data whose retention period has passed ([retention]), then
    /// checkpoint the WAL and VACUUM; prints what was deleted as JSON.
    Purge {
        /// The configuration file (its [retention] and [case_system] sections count).
        #[arg(long)]
        config: Option<PathBuf>,
        /// The data directory (default: the configuration's, as `serve`/`demo` use).
        #[arg(long)]
        data: Option<PathBuf>,
        /// The data belongs to `lotse demo` (demo defaults, --config laid over them).
        #[arg(long)]
        demo: bool,
        /// Purge as of this time (RFC 3339) instead of now.
        #[arg(long)]
        now: Option<String>,
    },
    /// Measure throughput, latency and memory of a real `lotse` process.
    Bench {
        #[command(subcommand)]
        what: Option<BenchCommand>,
        /// Seconds of sustained check-in load.
        #[arg(long, default_value_t = 5)]
        seconds: u64,
        /// Live SSE clients during the call-to-event measurement.
        #[arg(long, default_value_t = 100)]
        sse_clients: usize,
    },
}

/// Which database an operator command works on.
#[derive(clap::Args, Debug)]
struct DataArgs {
    /// The configuration file whose `data_dir` holds the database.
    #[arg(long, conflicts_with = "data")]
    config: Option<PathBuf>,
    /// The data directory directly (default /var/lib/lotse).
    #[arg(long)]
    data: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
enum AccountCommand {
    /// Create an account; the password (at least 12 characters) is read from stdin.
    Add {
        #[arg(long)]
        username: String,
        /// admin or desk
        #[arg(long)]
        role: String,
        /// Read the password from stdin without a prompt (for scripts).
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Set a new password (read from stdin); ends the account's sessions.
    Passwd {
        #[arg(long)]
        username: String,
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        data: DataArgs,
    },
}

#[derive(Subcommand, Debug)]
enum TokenCommand {
    /// Create an API token and print it once; only its hash is stored.
    Create {
        #[arg(long)]
        name: String,
        /// feed or monitoring
        #[arg(long)]
        scope: String,
        #[command(flatten)]
        data: DataArgs,
    },
}

#[derive(Subcommand, Debug)]
enum TlsCommand {
    /// Write a self-signed certificate (cert.pem) and its key (key.pem, 0600) into
    /// DIR, for `[server] tls_cert` and `tls_key`; prints what to configure.
    SelfSigned {
        #[arg(long)]
        out_dir: PathBuf,
        /// A host name or IP address the appliance is reached by (repeatable; the first
        /// is the certificate's common name).
        #[arg(long = "hostname", required = true)]
        hostnames: Vec<String>,
        /// Days of validity.
        #[arg(long, default_value_t = lotse_server::tls::SELF_SIGNED_DAYS)]
        days: i64,
        /// Replace existing files.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Subcommand, Debug)]
enum BenchCommand {
    /// Write synthetic history through the statistics aggregates and time a report
    /// over all of it (one year, about 150,000 visits, by default).
    Stats {
        /// Visits in total.
        #[arg(long, default_value_t = 150_000)]
        visits: u64,
        /// Days of history, ending yesterday.
        #[arg(long, default_value_t = 365)]
        days: u32,
        /// Keep the history in this database file (e.g. `<data>/lotse.db` for a demo
        /// with figures); default: a temporary file.
        #[arg(long)]
        db: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
enum ScanCommand {
    /// Read MRZ lines from stdin and print the parsed fields as JSON; exit 1 when invalid.
    Mrz {
        /// Also repair OCR confusions that a check digit confirms.
        #[arg(long)]
        repair: bool,
        /// Read the MRZ from an image (PNG, JPEG, WebP, TIFF, or a PDF's pages) instead of
        /// stdin; exit 1 when none with valid check digits is found. Always repairs.
        #[arg(long, value_name = "FILE")]
        image: Option<PathBuf>,
    },
    /// Decode QR, Micro QR, Data Matrix, PDF417 and Aztec codes in image files (PNG, JPEG,
    /// WebP, TIFF, PDF); one JSON line per symbol; exit 1 when a file had none or failed.
    Decode {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Check a V4L2 camera: capture frames, decode them, print the negotiated format, every
    /// code seen and the frame rate achieved as JSON lines; exit 1 when it cannot be opened.
    Camera {
        /// The camera device, e.g. /dev/v4l/by-id/usb-…-video-index0 or /dev/video0.
        #[arg(long)]
        device: PathBuf,
        /// Frames to capture.
        #[arg(long, default_value_t = 30)]
        frames: usize,
        /// Wanted frame width (the nearest size the camera offers is used).
        #[arg(long, default_value_t = 1280)]
        width: u32,
        /// Wanted frame height.
        #[arg(long, default_value_t = 720)]
        height: u32,
    },
    /// Time barcode decoding over the test corpus and on 1280x720 frames (also zxing-cpp).
    Bench {
        /// The corpus root (shared/testdata/barcodes).
        #[arg(long, default_value = "../shared/testdata/barcodes")]
        corpus: PathBuf,
        /// Frames per 1280x720 timing.
        #[arg(long, default_value_t = 50)]
        frames: usize,
        /// The zxing-cpp script (server/src/scanning/bench_zxingcpp.py); omit to skip it.
        #[arg(long)]
        zxing_cpp: Option<PathBuf>,
        /// Time MRZ reading instead: the images in DIR (shared/testdata/mrz/images, expected
        /// text beside them), 1280x720 frames with and without an MRZ, a 300 dpi A4 page.
        #[arg(long, value_name = "DIR")]
        mrz: Option<PathBuf>,
    },
}

fn default_data_dir() -> PathBuf {
    if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|x| !x.is_empty()) {
        return PathBuf::from(x).join("lotse");
    }
    match std::env::var_os("HOME") {
        Some(h) => PathBuf::from(h).join(".local/share/lotse"),
        None => PathBuf::from("lotse-data"),
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("LOTSE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("lotse: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::CheckConfig { file } => Ok(check_config(&file)),
        Command::Scan {
            what: ScanCommand::Mrz { repair, image },
        } => match image {
            Some(file) => scan_mrz_image(&file),
            None => scan_mrz(repair),
        },
        Command::Scan {
            what: ScanCommand::Decode { files },
        } => {
            let decoder = lotse_server::scanning::decode::Decoder::default();
            let ok = lotse_server::scanning::decode::decode_files_to_json(
                &decoder,
                &files,
                &mut std::io::stdout().lock(),
            )?;
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Scan {
            what:
                ScanCommand::Camera {
                    device,
                    frames,
                    width,
                    height,
                },
        } => {
            lotse_server::scanning::devices::check_camera(
                &device,
                frames,
                width,
                height,
                &mut std::io::stdout().lock(),
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Scan {
            what:
                ScanCommand::Bench {
                    corpus,
                    frames,
                    zxing_cpp,
                    mrz: Some(images),
                },
        } => {
            let _ = (corpus, zxing_cpp);
            let report = lotse_server::scanning::ocr::bench::run(&images, frames)
                .with_context(|| format!("MRZ bench over {}", images.display()))?;
            print!("{report}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Scan {
            what:
                ScanCommand::Bench {
                    corpus,
                    frames,
                    zxing_cpp,
                    mrz: None,
                },
        } => {
            let report = lotse_server::scanning::bench::run(&corpus, frames, zxing_cpp.as_deref())
                .with_context(|| format!("scan bench over {}", corpus.display()))?;
            print!("{report}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo {
            listen,
            data,
            config,
        } => {
            init_logging();
            let mut settings = Settings::demo(config.as_deref())?;
            if let Some(l) = listen {
                settings.listen = l
                    .parse()
                    .with_context(|| format!("--listen {l:?} is not an address:port"))?;
            }
            let data = data
                .or_else(|| settings.data_dir.clone())
                .unwrap_or_else(default_data_dir);
            runtime()?.block_on(serve(settings, &data, true))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve {
            config,
            data,
            listen,
        } => {
            init_logging();
            let loaded = Settings::load(&config);
            let data = data
                .or_else(|| loaded.as_ref().ok().and_then(|s| s.data_dir.clone()))
                .unwrap_or_else(|| PathBuf::from("/var/lib/lotse"));
            let listen = listen
                .map(|l| {
                    l.parse::<std::net::SocketAddr>()
                        .with_context(|| format!("--listen {l:?} is not an address:port"))
                })
                .transpose()?;
            // Not provisioned yet (no file was ever applied): say so on the screen
            // rather than fail and restart forever.
            let marker = lotse_server::provision::read_marker(&data).or_else(|| {
                (!config.exists()).then(|| {
                    vec![
                        "lotse-provision.toml".to_string(),
                        format!(
                            "no configuration at {}: put lotse-provision.toml onto the boot partition and restart",
                            config.display()
                        ),
                    ]
                })
            });
            if let Some(lines) = marker {
                let addr = listen
                    .or_else(|| loaded.as_ref().ok().map(|s| s.listen))
                    .unwrap_or_else(|| std::net::SocketAddr::from(([0, 0, 0, 0], 8080)));
                return runtime()?.block_on(needs_provisioning(addr, lines));
            }
            let mut settings = loaded?;
            if let Some(l) = listen {
                settings.listen = l;
            }
            runtime()?.block_on(serve(settings, &data, false))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Provision { file, root } => provision(&file, &root),
        Command::Backup { to, data, config } => {
            let db = data_dir(data, config.as_deref())?.join("lotse.db");
            anyhow::ensure!(db.is_file(), "no database at {}", db.display());
            lotse_server::storage::backup::backup(&db, &to)
                .with_context(|| format!("backup of {} to {}", db.display(), to.display()))?;
            let size = std::fs::metadata(&to).map(|m| m.len()).unwrap_or(0);
            println!("{} → {} ({size} bytes)", db.display(), to.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Restore { from, data, config } => {
            let dir = data_dir(data, config.as_deref())?;
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            let db = dir.join("lotse.db");
            let saved = lotse_server::storage::backup::restore(&from, &db)
                .with_context(|| format!("restore of {} from {}", db.display(), from.display()))?;
            println!("{} restored from {}", db.display(), from.display());
            if let Some(s) = saved {
                println!("the replaced database is kept as {}", s.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Account { what } => runtime()?.block_on(account(what)),
        Command::Tls {
            what:
                TlsCommand::SelfSigned {
                    out_dir,
                    hostnames,
                    days,
                    force,
                },
        } => {
            use lotse_server::tls;
            let pair = tls::self_signed(&hostnames, chrono::Utc::now(), days)?;
            let (cert, key) = tls::write_pair(&out_dir, &pair, force)?;
            let ck = tls::load(&cert, &key)?;
            println!("wrote {} and {} (0600)", cert.display(), key.display());
            println!("SHA-256 fingerprint: {}", tls::fingerprint(&ck));
            if let Some(spki) = tls::spki_sha256(&ck) {
                println!("SPKI SHA-256: {spki}");
            }
            println!(
                "configure:\n[server]\ntls_cert = {:?}\ntls_key = {:?}",
                cert.display().to_string(),
                key.display().to_string()
            );
            println!(
                "the appliance runs as user lotse: chgrp lotse {0} && chmod 0640 {0}",
                key.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Token {
            what: TokenCommand::Create { name, scope, data },
        } => runtime()?.block_on(async move {
            let scope: lotse_server::auth::Scope = scope.parse()?;
            let (auth, db) = open_auth(&data)?;
            let token = auth.create_token(&name, scope).await;
            db.close().await;
            println!("{}", token?);
            eprintln!(
                "API token {name:?} ({}) created; it is shown only now.",
                scope.as_str()
            );
            Ok(ExitCode::SUCCESS)
        }),
        Command::Purge {
            config,
            data,
            demo,
            now,
        } => {
            init_logging();
            let settings = if demo {
                Settings::demo(config.as_deref())?
            } else {
                let Some(config) = config else {
                    anyhow::bail!("lotse purge needs --config FILE (or --demo)");
                };
                Settings::load(&config)?
            };
            let data = data
                .or_else(|| settings.data_dir.clone())
                .unwrap_or_else(|| {
                    if demo {
                        default_data_dir()
                    } else {
                        PathBuf::from("/var/lib/lotse")
                    }
                });
            let clock: Arc<dyn lotse_server::clock::Clock> = match now {
                None => Arc::new(SystemClock),
                Some(t) => {
                    let at = chrono::DateTime::parse_from_rfc3339(&t)
                        .with_context(|| format!("--now {t:?} is not an RFC 3339 time"))?;
                    Arc::new(lotse_server::clock::ManualClock::new(at.to_utc()))
                }
            };
            let db = lotse_server::appliance::db_path(&data);
            anyhow::ensure!(db.exists(), "there is no database at {}", db.display());
            let report =
                runtime()?.block_on(lotse_server::retention::run_offline(&db, &settings, clock))?;
            println!("{}", serde_json::to_string(&report)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench {
            what: Some(BenchCommand::Stats { visits, days, db }),
            ..
        } => {
            let report = lotse_server::stats::bench::run(
                &lotse_server::stats::bench::Options { visits, days },
                db.as_deref(),
            )
            .context("stats bench")?;
            print!("{report}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench {
            what: None,
            seconds,
            sse_clients,
        } => {
            let exe = std::env::current_exe().context("cannot find the lotse binary")?;
            let report = runtime()?.block_on(lotse_server::bench::run(
                &exe,
                lotse_server::bench::Options {
                    seconds,
                    sse_clients,
                },
            ))?;
            println!("{report}");
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The auth store of the database an operator command names.
fn open_auth(
    args: &DataArgs,
) -> anyhow::Result<(lotse_server::auth::Auth, lotse_server::storage::Db)> {
    let dir = match (&args.data, &args.config) {
        (Some(d), _) => d.clone(),
        (None, Some(c)) => Settings::load(c)?
            .data_dir
            .unwrap_or_else(|| PathBuf::from("/var/lib/lotse")),
        (None, None) => PathBuf::from("/var/lib/lotse"),
    };
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("cannot create the data directory {}", dir.display()))?;
    let path = lotse_server::appliance::db_path(&dir);
    let clock: Arc<dyn lotse_server::clock::Clock> = Arc::new(SystemClock);
    let db = lotse_server::storage::Db::open(&path, clock.clone(), |_| {})
        .with_context(|| format!("cannot open {}", path.display()))?;
    Ok((lotse_server::auth::Auth::new(db.clone(), clock, None), db))
}

/// One line from stdin, without its line end; prompts only on a terminal.
fn read_password(quiet: bool) -> anyhow::Result<String> {
    use std::io::{BufRead, IsTerminal};
    if !quiet && std::io::stdin().is_terminal() {
        eprint!("Password (at least 12 characters; it will be visible): ");
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read the password from stdin")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

async fn account(what: AccountCommand) -> anyhow::Result<ExitCode> {
    match what {
        AccountCommand::Add {
            username,
            role,
            password_stdin,
            data,
        } => {
            let role: lotse_server::auth::Role = role.parse()?;
            let password = read_password(password_stdin)?;
            let (auth, db) = open_auth(&data)?;
            let r = auth.create_account(&username, &password, role).await;
            db.close().await;
            r?;
            println!("account {username:?} ({}) created", role.as_str());
        }
        AccountCommand::Passwd {
            username,
            password_stdin,
            data,
        } => {
            let password = read_password(password_stdin)?;
            let (auth, db) = open_auth(&data)?;
            let r = auth
                .update_account(&username, Some(&password), None, None)
                .await;
            db.close().await;
            r?;
            println!("password of {username:?} changed; its sessions have ended");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn scan_mrz(repair: bool) -> anyhow::Result<ExitCode> {
    use lotse_server::scanning::mrz;
    let mut text = String::new();
    std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
        .context("cannot read MRZ lines from stdin")?;
    let parsed = if repair {
        mrz::parse_with_repair(&text)
    } else {
        mrz::parse(&text)
    };
    match parsed {
        Ok(m) => {
            println!("{}", serde_json::to_string(&m)?);
            Ok(if m.is_valid() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Err(e) => {
            println!(
                "{}",
                serde_json::json!({"valid": false, "errors": [e.code()], "message": e.to_string()})
            );
            Ok(ExitCode::from(1))
        }
    }
}

fn scan_mrz_image(file: &Path) -> anyhow::Result<ExitCode> {
    let read = lotse_server::scanning::ocr::read_mrz_file(file)?;
    if let Some(read) = read {
        println!("{}", serde_json::to_string(read.mrz())?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{}",
        serde_json::json!({"valid": false, "errors": ["not_found"], "message": format!("no readable MRZ in {}", file.display())})
    );
    Ok(ExitCode::from(1))
}

fn check_config(file: &Path) -> ExitCode {
    match Settings::load(file) {
        Ok(s) => {
            println!(
                "{}: OK — site \"{}\", {} services, {} counters, listening on {}{}",
                file.display(),
                s.site_id,
                s.services.len(),
                s.counters.len(),
                s.listen,
                s.tls
                    .as_ref()
                    .map(|t| format!(", HTTPS on {} (certificate {})", t.listen, t.cert.display()))
                    .unwrap_or_default()
            );
            ExitCode::SUCCESS
        }
        Err(ConfigError::Invalid(problems)) => {
            eprintln!("{}: {} problem(s)", file.display(), problems.len());
            for p in problems {
                eprintln!("  {p}");
            }
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(2)
        }
    }
}

/// `--data`, else the config's data directory, else the production default.
fn data_dir(data: Option<PathBuf>, config: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(d) = data {
        return Ok(d);
    }
    let from_config = match config {
        Some(c) => Settings::load(c)?.data_dir,
        None => None,
    };
    Ok(from_config.unwrap_or_else(|| PathBuf::from("/var/lib/lotse")))
}

fn provision(file: &Path, root: &Path) -> anyhow::Result<ExitCode> {
    use lotse_server::provision::{Outcome, run};
    match run(file, root)? {
        Outcome::Applied { applied, kept } => {
            for p in &applied.written {
                println!("wrote {}", p.display());
            }
            for n in &applied.notes {
                println!("{n}");
            }
            println!(
                "{}: applied; secrets removed, copy kept as {}",
                file.display(),
                kept.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Outcome::NeedsProvisioning { problems, marker } => {
            eprintln!("{}: {} problem(s)", file.display(), problems.len());
            for p in problems {
                eprintln!("  {p}");
            }
            eprintln!(
                "nothing applied; the device shows these until fixed ({})",
                marker.display()
            );
            Ok(ExitCode::from(2))
        }
    }
}

async fn needs_provisioning(
    addr: std::net::SocketAddr,
    lines: Vec<String>,
) -> anyhow::Result<ExitCode> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let addr = listener.local_addr()?;
    println!("lotse {} listening on {addr}", env!("CARGO_PKG_VERSION"));
    println!(
        "needs provisioning: {}",
        lines.iter().skip(1).cloned().collect::<Vec<_>>().join("; ")
    );
    lotse_server::http::provisioning::serve(listener, lines, shutdown_signal()).await?;
    Ok(ExitCode::SUCCESS)
}

/// Where `lotse provision` leaves the admin password's hash on the appliance.
const PROVISIONED_ADMIN_HASH: &str = "/etc/lotse/admin.hash";

/// Creates the `admin` account from the provisioned hash while there is no admin yet.
async fn adopt_provisioned_admin(appliance: &Appliance) {
    let Ok(phc) = std::fs::read_to_string(PROVISIONED_ADMIN_HASH) else {
        return;
    };
    match appliance.state.auth.adopt_admin_hash(phc.trim()).await {
        Ok(true) => tracing::info!("admin account created from {PROVISIONED_ADMIN_HASH}"),
        Ok(false) => {}
        Err(e) => tracing::warn!("{PROVISIONED_ADMIN_HASH} not used: {e}"),
    }
}

async fn serve(mut settings: Settings, data: &Path, demo: bool) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("cannot listen on {}", settings.listen))?;
    let addr = listener.local_addr()?;
    // The HTTPS port as bound (port 0 picks one), so redirects point at it.
    let https = match settings.tls.as_mut() {
        None => None,
        Some(t) => {
            let l = tokio::net::TcpListener::bind(t.listen)
                .await
                .with_context(|| format!("cannot listen on {} (https_listen)", t.listen))?;
            t.listen = l.local_addr()?;
            Some(l)
        }
    };
    let https_addr = settings.tls.as_ref().map(|t| t.listen);
    let appliance = Appliance::start(settings, data, Arc::new(SystemClock))
        .await
        .with_context(|| format!("cannot start with data directory {}", data.display()))?;
    if !demo {
        adopt_provisioned_admin(&appliance).await;
    }
    let host = if addr.ip().is_unspecified() {
        "127.0.0.1".to_string()
    } else {
        addr.ip().to_string()
    };
    let base = format!("http://{host}:{}", addr.port());
    // Before the "listening on" line, which scripts wait for: then both are known.
    if let Some(a) = https_addr {
        println!("lotse {} serving HTTPS on {a}", env!("CARGO_PKG_VERSION"));
    }
    println!("lotse {} listening on {addr}", env!("CARGO_PKG_VERSION"));
    if demo {
        println!(
            "demo mode: simulated hardware, database {}",
            data.join("lotse.db").display()
        );
    }
    // The screens on the appliance itself use loopback HTTP; the LAN uses HTTPS.
    let lan = match https_addr {
        Some(a) => {
            let h = match a.ip() {
                ip if ip.is_unspecified() => "127.0.0.1".to_string(),
                std::net::IpAddr::V6(ip) => format!("[{ip}]"),
                ip => ip.to_string(),
            };
            format!("https://{h}:{}", a.port())
        }
        None => base.clone(),
    };
    println!("  Kiosk:   {base}/kiosk");
    println!("  Display: {base}/display");
    println!("  Desk:    {lan}/desk");
    println!("  API:     {lan}/api/v1/openapi.json");
    if let Some((fp, spki)) = appliance.tls_fingerprint() {
        println!("  HTTPS:   {lan} (certificate SHA-256 {fp})");
        if let Some(spki) = spki {
            println!("           hub_spki = \"{spki}\" for devices that open this hub");
        }
    }
    match &appliance.demo_password {
        Some(DemoPassword::Generated(p)) => {
            println!("  Login:   desk or admin, password {p}");
        }
        Some(DemoPassword::FromEnv) => {
            println!("  Login:   desk or admin, password from LOTSE_DEMO_PASSWORD");
        }
        None => {}
    }
    appliance.serve(listener, https, shutdown_signal()).await?;
    Ok(())
}
