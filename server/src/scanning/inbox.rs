//! The office-scanner inbox: a folder where multifunction printers drop scans (PDF, JPEG,
//! PNG, TIFF, WebP). Every code found is handed on as an [`InboxFinding`], and every file is
//! deleted once read.
//!
//! Decisions:
//! - **Polling** (default every second) rather than inotify (`notify`): scanners write to SMB
//!   or NFS shares, where inotify does not see writes made by other machines; completeness
//!   has to be judged by polling anyway; and it needs no new dependency.
//! - A file is **complete** when its size and modification time were the same in two polls
//!   in a row and it is not empty. Hidden files (`.name`) and the temporary names scanners and
//!   copy tools use while writing (`~name`, `*.tmp`, `*.part`, `*.crdownload`) are skipped.
//! - **Every read file is deleted**, also when it had no code or could not be read: scans
//!   are personal documents and must not pile up (no `error/` folder). The log names the file
//!   and why, never what a code said. A file that cannot be deleted is reported once and not
//!   read again while it stays unchanged. Files of other types are left alone and logged once
//!   (they may be the administrator's).
//! - A file is deleted only after all its findings were accepted by the receiver; if the
//!   receiver is gone, the file stays for the next start.
//! - Decoding (PDF pages via `pdftoppm`) runs on the inbox's own thread, never on the async
//!   runtime. MRZ text printed on a document is read only when an [`MrzReader`] (OCR) is
//!   given ([`Inbox::with_mrz_reader`]); its lines become findings of kind [`Found::Mrz`] and
//!   go the same way as an MRZ typed by a reader (`scanning::desk`).

use std::collections::{HashMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use lotse_firmware::scanner::{SourceHandle, SourceId};
use tokio::sync::mpsc;

use super::decode::{Decoder, Format};

/// Where the inbox is and how often it is looked at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InboxSettings {
    /// The folder the office scanner writes to.
    pub dir: PathBuf,
    /// Time between two looks; a file is read after two looks saw it unchanged.
    pub poll_interval: Duration,
}

/// Finds the MRZ lines printed in a page (8-bit luma, width, height), joined by `'\n'` per
/// document: OCR, supplied by the caller.
pub type MrzReader = Arc<dyn Fn(&[u8], u32, u32) -> Vec<String> + Send + Sync>;

/// How a finding was read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Found {
    /// A barcode of this format.
    Code(Format),
    /// MRZ lines read from the page by the [`MrzReader`].
    Mrz,
}

/// One code or MRZ found in a scanned file.
#[derive(Clone, PartialEq, Eq)]
pub struct InboxFinding {
    /// The file's name (without folder), for logs.
    pub file_name: String,
    pub found: Found,
    pub text: String,
}

/// The text is left out: it may identify a person.
impl std::fmt::Debug for InboxFinding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InboxFinding")
            .field("file_name", &self.file_name)
            .field("found", &self.found)
            .finish_non_exhaustive()
    }
}

/// The inbox folder cannot be listed (not mounted yet, removed, no permission).
#[derive(Debug, thiserror::Error)]
#[error("cannot read the scan inbox {}: {source}", dir.display())]
pub struct InboxError {
    pub dir: PathBuf,
    pub source: io::Error,
}

/// What one poll did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PollReport {
    /// Files read and deleted.
    pub processed: usize,
    /// Codes handed on.
    pub findings: usize,
    /// Files that had no code or could not be read (deleted as well).
    pub unreadable: usize,
}

/// Size and modification time: a file is complete when these stay the same.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    size: u64,
    modified: Option<SystemTime>,
}

/// The inbox folder and what earlier polls saw in it.
pub struct Inbox {
    settings: InboxSettings,
    decoder: Arc<Decoder>,
    mrz_reader: Option<MrzReader>,
    /// Candidates seen in the last poll.
    seen: HashMap<PathBuf, Stamp>,
    /// Files that were read but could not be deleted, as they were then.
    stuck: HashMap<PathBuf, Stamp>,
    /// Files of other types, logged once.
    foreign: HashSet<PathBuf>,
}

impl std::fmt::Debug for Inbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inbox")
            .field("settings", &self.settings)
            .field("mrz_reader", &self.mrz_reader.is_some())
            .finish_non_exhaustive()
    }
}

/// File types the inbox reads (lower-case extensions).
const EXTENSIONS: [&str; 7] = ["pdf", "jpg", "jpeg", "png", "tif", "tiff", "webp"];

impl Inbox {
    /// An inbox over `settings.dir`, decoding with `decoder`.
    pub fn new(settings: InboxSettings, decoder: Arc<Decoder>) -> Self {
        Inbox {
            settings,
            decoder,
            mrz_reader: None,
            seen: HashMap::new(),
            stuck: HashMap::new(),
            foreign: HashSet::new(),
        }
    }

    /// Also reads MRZ text on every page with `reader` (OCR).
    pub fn with_mrz_reader(mut self, reader: MrzReader) -> Self {
        self.mrz_reader = Some(reader);
        self
    }

    /// Codes (and with a reader, MRZs) on every page of a file.
    fn read(&self, path: &Path) -> Result<Vec<(Found, String)>, super::decode::DecodeError> {
        let Some(ocr) = &self.mrz_reader else {
            return Ok(self
                .decoder
                .decode_file(path)?
                .into_iter()
                .map(|s| (Found::Code(s.format), s.text))
                .collect());
        };
        let mut out: Vec<(Found, String)> = Vec::new();
        for page in super::decode::load_pages(path)? {
            let (w, h) = page.dimensions();
            let codes = self.decoder.decode_image(page.as_raw(), w, h)?;
            let found = codes
                .into_iter()
                .map(|s| (Found::Code(s.format), s.text))
                .chain(
                    ocr(page.as_raw(), w, h)
                        .into_iter()
                        .map(|t| (Found::Mrz, t)),
                );
            for f in found {
                if !out.contains(&f) {
                    out.push(f);
                }
            }
        }
        Ok(out)
    }

    /// The settings this inbox runs with.
    pub fn settings(&self) -> &InboxSettings {
        &self.settings
    }

    /// Looks at the folder once: reads and deletes every complete file, handing each finding to
    /// `deliver`, which returns `false` when nobody receives findings any more (the file then
    /// stays and the poll ends).
    pub fn poll(
        &mut self,
        mut deliver: impl FnMut(InboxFinding) -> bool,
    ) -> Result<PollReport, InboxError> {
        let dir = &self.settings.dir;
        let entries = std::fs::read_dir(dir).map_err(|source| InboxError {
            dir: dir.clone(),
            source,
        })?;
        let mut report = PollReport::default();
        let mut now_seen = HashMap::new();
        let mut present = HashSet::new();
        let mut ready = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()).map(str::to_owned) else {
                continue;
            };
            let Ok(meta) = entry.metadata() else {
                continue;
            };
            if !meta.is_file() || is_temporary(&name) {
                continue;
            }
            present.insert(path.clone());
            if !has_known_extension(&name) {
                if self.foreign.insert(path.clone()) {
                    tracing::warn!(file = %name, "scan inbox: not a PDF or image, left alone");
                }
                continue;
            }
            let stamp = Stamp {
                size: meta.len(),
                modified: meta.modified().ok(),
            };
            if self.stuck.get(&path) == Some(&stamp) {
                continue;
            }
            self.stuck.remove(&path);
            if stamp.size > 0 && self.seen.get(&path) == Some(&stamp) {
                ready.push((path, name, stamp));
            } else {
                now_seen.insert(path, stamp);
            }
        }
        self.foreign.retain(|p| present.contains(p));
        self.stuck.retain(|p, _| present.contains(p));
        self.seen = now_seen;
        ready.sort_by(|a, b| a.1.cmp(&b.1));
        for (path, name, stamp) in ready {
            let symbols = match self.read(&path) {
                Ok(symbols) => symbols,
                Err(e) => {
                    tracing::warn!(file = %name, "scan inbox: unreadable file deleted: {e}");
                    Vec::new()
                }
            };
            if symbols.is_empty() {
                report.unreadable += 1;
                tracing::info!(file = %name, "scan inbox: no code found; file deleted");
            }
            for (found, text) in symbols {
                let finding = InboxFinding {
                    file_name: name.clone(),
                    found,
                    text,
                };
                if !deliver(finding) {
                    // Keep the file for the next start; forget it so it is read again then.
                    return Ok(report);
                }
                report.findings += 1;
            }
            report.processed += 1;
            if let Err(e) = std::fs::remove_file(&path) {
                tracing::error!(file = %name, "scan inbox: cannot delete a read scan: {e}");
                self.stuck.insert(path, stamp);
            }
        }
        Ok(report)
    }
}

/// Names scanners and copy tools use while a file is being written, and hidden files.
fn is_temporary(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    name.starts_with('.')
        || name.starts_with('~')
        || name.contains("~$")
        || [".tmp", ".part", ".partial", ".crdownload", ".swp"]
            .iter()
            .any(|s| lower.ends_with(s))
}

fn has_known_extension(name: &str) -> bool {
    Path::new(name)
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| EXTENSIONS.iter().any(|k| e.eq_ignore_ascii_case(k)))
}

/// Runs the inbox on its own thread, sending findings to `tx` until the handle is stopped or
/// dropped or the receiver is gone. A missing folder (a share not mounted yet) is logged once
/// and looked for again at every poll.
pub fn spawn(mut inbox: Inbox, tx: mpsc::Sender<InboxFinding>) -> SourceHandle {
    let id = SourceId::new(&format!("inbox:{}", inbox.settings.dir.display()));
    SourceHandle::spawn(id, move |stop| {
        let mut failing = false;
        let interval = inbox.settings.poll_interval;
        loop {
            let mut open = true;
            match inbox.poll(|f| {
                open = tx.blocking_send(f).is_ok();
                open
            }) {
                Ok(_) if failing => {
                    failing = false;
                    tracing::info!(dir = %inbox.settings.dir.display(), "scan inbox readable again");
                }
                Ok(_) => {}
                Err(e) if !failing => {
                    failing = true;
                    tracing::warn!("{e}; retrying");
                }
                Err(_) => {}
            }
            if !open || tx.is_closed() || !stop.sleep(interval) {
                return;
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn testdata(rel: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/testdata/barcodes")
            .join(rel)
    }

    fn expected(rel: &str) -> String {
        let p = testdata(rel).with_extension("txt");
        std::fs::read_to_string(p).unwrap()
    }

    fn inbox(dir: &Path) -> Inbox {
        Inbox::new(
            InboxSettings {
                dir: dir.to_owned(),
                poll_interval: Duration::from_millis(50),
            },
            Arc::new(Decoder::default()),
        )
    }

    fn collect(inbox: &mut Inbox) -> (PollReport, Vec<InboxFinding>) {
        let mut found = Vec::new();
        let report = inbox
            .poll(|f| {
                found.push(f);
                true
            })
            .unwrap();
        (report, found)
    }

    /// An image-only PDF, as a multifunction printer writes it: one page with the scan.
    fn pdf_of(image: &Path, out: &Path) {
        use printpdf::{
            Mm, Op, PdfDocument, PdfPage, PdfSaveOptions, RawImage, RawImageData, RawImageFormat,
            XObjectTransform,
        };
        let img = crate::scanning::decode::load_luma(image).unwrap();
        let mut doc = PdfDocument::new("scan");
        let raw = RawImage {
            pixels: RawImageData::U8(img.as_raw().clone()),
            width: img.width() as usize,
            height: img.height() as usize,
            data_format: RawImageFormat::R8,
            tag: Vec::new(),
        };
        let id = doc.add_image(&raw);
        let ops = vec![Op::UseXobject {
            id,
            transform: XObjectTransform {
                translate_x: Some(printpdf::Pt(36.0)),
                translate_y: Some(printpdf::Pt(36.0)),
                dpi: Some(150.0),
                ..Default::default()
            },
        }];
        doc.with_pages(vec![PdfPage::new(Mm(210.0), Mm(297.0), ops)]);
        let mut warnings = Vec::new();
        std::fs::write(out, doc.save(&PdfSaveOptions::default(), &mut warnings)).unwrap();
    }

    #[test]
    fn complete_scans_are_read_once_and_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        // PNG, JPEG and WebP straight from the corpus, a TIFF and a PDF made from corpus images.
        std::fs::copy(testdata("zxing/qrcode-1/1.png"), d.join("Scan_0001.PNG")).unwrap();
        std::fs::copy(
            testdata("zxing-cpp/qrcode-2/#199b.jpg"),
            d.join("scan 2.jpg"),
        )
        .unwrap();
        std::fs::copy(testdata("zxing-cpp/qrcode-1/1.webp"), d.join("scan3.webp")).unwrap();
        crate::scanning::decode::load_luma(&testdata("zxing/datamatrix-1/C40.png"))
            .unwrap()
            .save_with_format(d.join("scan4.tif"), image::ImageFormat::Tiff)
            .unwrap();
        pdf_of(&testdata("zxing/qrcode-2/1.png"), &d.join("scan5.pdf"));

        let mut inbox = inbox(d);
        // First look: seen, not yet known to be complete.
        let (report, found) = collect(&mut inbox);
        assert_eq!(report, PollReport::default());
        assert!(found.is_empty());
        assert_eq!(std::fs::read_dir(d).unwrap().count(), 5);

        let (report, found) = collect(&mut inbox);
        assert_eq!(report.processed, 5);
        assert_eq!(report.unreadable, 0, "{found:?}");
        let text_of = |file: &str| -> Vec<&str> {
            found
                .iter()
                .filter(|f| f.file_name == file)
                .map(|f| f.text.as_str())
                .collect()
        };
        assert_eq!(text_of("Scan_0001.PNG"), [expected("zxing/qrcode-1/1.png")]);
        assert_eq!(
            text_of("scan 2.jpg"),
            [expected("zxing-cpp/qrcode-2/#199b.jpg")]
        );
        assert_eq!(
            text_of("scan3.webp"),
            [expected("zxing-cpp/qrcode-1/1.webp")]
        );
        assert_eq!(
            text_of("scan4.tif"),
            [expected("zxing/datamatrix-1/C40.png")]
        );
        assert_eq!(text_of("scan5.pdf"), [expected("zxing/qrcode-2/1.png")]);
        assert!(
            found
                .iter()
                .any(|f| f.found == Found::Code(Format::DataMatrix))
        );
        // Nothing is left lying around, and nothing is read twice.
        assert_eq!(std::fs::read_dir(d).unwrap().count(), 0);
        assert_eq!(collect(&mut inbox).0, PollReport::default());
    }

    #[test]
    fn files_being_written_temp_and_foreign_files_wait_or_stay() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let bytes = std::fs::read(testdata("zxing/qrcode-1/1.png")).unwrap();
        let (head, tail) = bytes.split_at(bytes.len() / 2);
        std::fs::write(d.join("growing.png"), head).unwrap();
        std::fs::write(d.join(".hidden.png"), &bytes).unwrap();
        std::fs::write(d.join("~scan.png"), &bytes).unwrap();
        std::fs::write(d.join("scan.png.part"), &bytes).unwrap();
        std::fs::write(d.join("notes.txt"), b"not a scan").unwrap();
        std::fs::write(d.join("empty.pdf"), b"").unwrap();
        std::fs::create_dir(d.join("sub.png")).unwrap();

        let mut inbox = inbox(d);
        assert_eq!(collect(&mut inbox).0, PollReport::default());
        // The scanner is still writing: the size changed, so it waits another poll.
        use std::io::Write;
        std::fs::OpenOptions::new()
            .append(true)
            .open(d.join("growing.png"))
            .unwrap()
            .write_all(tail)
            .unwrap();
        assert_eq!(collect(&mut inbox).0, PollReport::default());
        let (report, found) = collect(&mut inbox);
        assert_eq!(report.processed, 1);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].file_name, "growing.png");
        // Still there: hidden, temporary, foreign, empty files and folders.
        let mut left: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                ".hidden.png",
                "empty.pdf",
                "notes.txt",
                "scan.png.part",
                "sub.png",
                "~scan.png"
            ]
        );
    }

    #[test]
    fn unreadable_and_codeless_files_are_deleted_too() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("broken.png"), b"\x89PNG\r\n\x1a\n garbage").unwrap();
        std::fs::write(d.join("broken.pdf"), b"%PDF-1.4 garbage").unwrap();
        image::GrayImage::from_pixel(64, 64, image::Luma([255]))
            .save(d.join("blank.png"))
            .unwrap();
        let mut inbox = inbox(d);
        collect(&mut inbox);
        let (report, found) = collect(&mut inbox);
        assert!(found.is_empty());
        assert_eq!(report.processed, 3);
        assert_eq!(report.unreadable, 3);
        assert_eq!(std::fs::read_dir(d).unwrap().count(), 0);
    }

    /// With an MRZ reader (the OCR the lead wires in), MRZ text on a page is a finding of its
    /// own next to the codes, read from every page of a PDF too.
    #[test]
    fn an_mrz_reader_adds_mrz_findings() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::copy(testdata("zxing/qrcode-1/1.png"), d.join("id.png")).unwrap();
        pdf_of(&testdata("zxing/qrcode-2/1.png"), &d.join("id.pdf"));
        let pages = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = pages.clone();
        let reader: MrzReader = Arc::new(move |luma: &[u8], w: u32, h: u32| {
            assert_eq!(luma.len(), (w * h) as usize);
            seen.lock().unwrap().push((w, h));
            vec!["P<UTOERIKSSON<<ANNA<MARIA\nL898902C36UTO7408122F1204159".to_string()]
        });
        let mut inbox = inbox(d).with_mrz_reader(reader);
        collect(&mut inbox);
        let (report, found) = collect(&mut inbox);
        assert_eq!(report.processed, 2);
        for file in ["id.png", "id.pdf"] {
            let kinds: Vec<Found> = found
                .iter()
                .filter(|f| f.file_name == file)
                .map(|f| f.found)
                .collect();
            assert_eq!(kinds, [Found::Code(Format::QrCode), Found::Mrz], "{file}");
        }
        assert_eq!(pages.lock().unwrap().len(), 2, "one call per page");
        assert!(!format!("{found:?}").contains("ERIKSSON"));
        assert_eq!(std::fs::read_dir(d).unwrap().count(), 0);
    }

    #[test]
    fn a_gone_receiver_leaves_the_file_and_a_missing_folder_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::copy(testdata("zxing/qrcode-1/1.png"), d.join("a.png")).unwrap();
        let mut inbox = inbox(d);
        inbox.poll(|_| false).unwrap();
        inbox.poll(|_| false).unwrap();
        assert!(d.join("a.png").exists());

        let mut missing = self::inbox(&d.join("not-mounted"));
        assert!(missing.poll(|_| true).is_err());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_inbox_thread_delivers_findings_on_a_channel() {
        let dir = tempfile::tempdir().unwrap();
        let settings = InboxSettings {
            dir: dir.path().join("inbox"),
            poll_interval: Duration::from_millis(50),
        };
        let (tx, mut rx) = mpsc::channel(4);
        let handle = spawn(
            Inbox::new(settings.clone(), Arc::new(Decoder::default())),
            tx,
        );
        // The folder appears later (a share mounted after start).
        tokio::time::sleep(Duration::from_millis(120)).await;
        std::fs::create_dir(&settings.dir).unwrap();
        std::fs::copy(
            testdata("zxing/qrcode-1/1.png"),
            settings.dir.join("scan.png"),
        )
        .unwrap();
        let f = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(f.file_name, "scan.png");
        assert_eq!(f.text, expected("zxing/qrcode-1/1.png"));
        assert!(!format!("{f:?}").contains(&f.text));
        tokio::task::spawn_blocking(move || handle.stop())
            .await
            .unwrap();
        assert!(!settings.dir.join("scan.png").exists());
    }
}
