//! Any printer CUPS knows, fed the ticket PDF through `lp`.
//!
//! For sites that print tickets on an office printer. CUPS owns the device and the
//! queue, so the state here is only what `lpstat -p` says about the queue: enabled
//! (ready) or disabled/unknown (offline). Paper problems show up in CUPS, not here.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{PrintJob, Printer, PrinterError, PrinterState, Result};

/// A CUPS queue, printed to with `lp -d QUEUE -`.
#[derive(Debug, Clone)]
pub struct CupsPrinter {
    queue: String,
    lp: PathBuf,
    lpstat: PathBuf,
    timeout: Duration,
}

impl CupsPrinter {
    /// Uses `lp` and `lpstat` from `PATH`, 10 s per command.
    pub fn new(queue: impl Into<String>) -> Self {
        CupsPrinter {
            queue: queue.into(),
            lp: "lp".into(),
            lpstat: "lpstat".into(),
            timeout: Duration::from_secs(10),
        }
    }

    /// Other `lp`/`lpstat` programs (tests use scripts; some systems use full paths).
    pub fn with_commands(mut self, lp: impl Into<PathBuf>, lpstat: impl Into<PathBuf>) -> Self {
        self.lp = lp.into();
        self.lpstat = lpstat.into();
        self
    }

    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    fn program(path: &std::path::Path) -> String {
        path.display().to_string()
    }
}

/// Output of a finished command.
struct Finished {
    success: bool,
    stdout: String,
    stderr: String,
}

/// Waits for `child` up to `timeout`, killing it when it takes longer.
fn wait(mut child: Child, timeout: Duration) -> Result<Finished> {
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(PrinterError::Timeout(timeout));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stdout = String::new();
    let mut stderr = String::new();
    if let Some(mut out) = child.stdout.take() {
        let _ = out.read_to_string(&mut stdout);
    }
    if let Some(mut err) = child.stderr.take() {
        let _ = err.read_to_string(&mut stderr);
    }
    Ok(Finished {
        success: status.success(),
        stdout,
        stderr,
    })
}

impl Printer for CupsPrinter {
    fn state(&self) -> PrinterState {
        let child = Command::new(&self.lpstat)
            .arg("-p")
            .arg(&self.queue)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn();
        let Ok(done) = child
            .map_err(PrinterError::from)
            .and_then(|c| wait(c, self.timeout))
        else {
            return PrinterState::Offline;
        };
        // "printer Q is idle.  enabled since …" / "… now printing …" / "… disabled since …"
        let out = done.stdout.to_lowercase();
        if done.success
            && !out.contains("disabled")
            && (out.contains("idle") || out.contains("printing"))
        {
            PrinterState::Ready
        } else {
            PrinterState::Offline
        }
    }

    fn print(&self, job: &PrintJob) -> Result<()> {
        let Some(pdf) = &job.pdf else {
            return Err(PrinterError::Unsupported("a CUPS queue needs the PDF"));
        };
        let state = self.state();
        if !state.can_print() {
            return Err(PrinterError::NotReady(state));
        }
        let mut cmd = Command::new(&self.lp);
        cmd.arg("-d").arg(&self.queue);
        if !job.name.is_empty() {
            cmd.arg("-t").arg(&job.name);
        }
        let mut child = cmd
            .arg("-")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| PrinterError::Command {
                program: Self::program(&self.lp),
                detail: e.to_string(),
            })?;
        if let Some(mut stdin) = child.stdin.take() {
            // lp reads the whole document before answering, so this cannot deadlock
            // on its (tiny) output; a broken pipe shows up in the exit status below.
            let _ = stdin.write_all(pdf);
        }
        let done = wait(child, self.timeout)?;
        if done.success {
            Ok(())
        } else {
            Err(PrinterError::Command {
                program: Self::program(&self.lp),
                detail: done.stderr.trim().to_string(),
            })
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;

    fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("script written");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        path
    }

    fn setup(tag: &str, lpstat_out: &str, lp_exit: i32) -> (PathBuf, CupsPrinter) {
        let dir = std::env::temp_dir().join(format!("lotse-cups-{}-{tag}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let d = dir.display();
        let lp = script(
            &dir,
            "lp",
            &format!(
                "echo \"$@\" > {d}/args\ncat > {d}/job.pdf\n\
                 [ {lp_exit} -eq 0 ] || {{ echo 'lp: Error - no such queue' >&2; exit {lp_exit}; }}\n\
                 echo 'request id is tickets-1 (1 file(s))'"
            ),
        );
        let lpstat = script(&dir, "lpstat", &format!("echo '{lpstat_out}'"));
        let printer = CupsPrinter::new("tickets").with_commands(lp, lpstat);
        (dir, printer)
    }

    fn job() -> PrintJob {
        PrintJob {
            escpos: Vec::new(),
            preview_png: None,
            pdf: Some(b"%PDF-1.7 fake".to_vec()),
            name: "A-007".into(),
        }
    }

    #[test]
    fn prints_the_pdf_through_lp() {
        let (dir, printer) = setup(
            "ok",
            "printer tickets is idle.  enabled since Mon 09 Mar 2026",
            0,
        );
        assert_eq!(printer.state(), PrinterState::Ready);
        printer.print(&job()).expect("prints");
        assert_eq!(std::fs::read(dir.join("job.pdf")).ok(), job().pdf);
        let args = std::fs::read_to_string(dir.join("args")).unwrap_or_default();
        assert_eq!(args.trim(), "-d tickets -t A-007 -");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn lp_failure_is_reported() {
        let (dir, printer) = setup("fail", "printer tickets is idle.", 1);
        match printer.print(&job()) {
            Err(PrinterError::Command { detail, .. }) => assert!(detail.contains("no such queue")),
            other => panic!("unexpected {other:?}"),
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn disabled_queue_is_offline_and_refuses() {
        let (dir, printer) = setup("off", "printer tickets disabled since Mon -", 0);
        assert_eq!(printer.state(), PrinterState::Offline);
        assert!(matches!(
            printer.print(&job()),
            Err(PrinterError::NotReady(PrinterState::Offline))
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn needs_a_pdf_and_a_working_lpstat() {
        let printer =
            CupsPrinter::new("tickets").with_commands("/nonexistent/lp", "/nonexistent/lpstat");
        assert_eq!(printer.state(), PrinterState::Offline);
        let no_pdf = PrintJob::default();
        assert!(matches!(
            printer.print(&no_pdf),
            Err(PrinterError::Unsupported(_))
        ));
    }

    #[test]
    fn hanging_command_times_out() {
        let dir = std::env::temp_dir().join(format!("lotse-cups-{}-hang", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let lpstat = script(&dir, "lpstat", "sleep 5");
        let printer = CupsPrinter::new("tickets")
            .with_commands("lp", lpstat)
            .with_timeout(Duration::from_millis(200));
        let started = Instant::now();
        assert_eq!(printer.state(), PrinterState::Offline);
        assert!(started.elapsed() < Duration::from_secs(3));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
