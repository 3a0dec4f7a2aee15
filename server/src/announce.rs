//! Spoken calls for the waiting-room display: "Nummer A 42, bitte zu Raum 101." in
//! German and in the visitor's language, spoken offline by espeak-ng on the
//! appliance and cached as WAV files, so a repeated call costs a file read.

use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::time::Duration;

use tokio::process::Command;

use crate::assets;

#[derive(Debug, thiserror::Error)]
pub enum AnnounceError {
    #[error("spoken calls are switched off")]
    Disabled,
    #[error("the speech synthesizer {program} cannot run: {detail}")]
    Synth { program: String, detail: String },
    #[error("the synthesizer produced audio that is not a PCM WAV file: {0}")]
    BadAudio(&'static str),
    #[error("audio cache: {0}")]
    Io(#[from] std::io::Error),
}

pub type Result<T> = std::result::Result<T, AnnounceError>;

/// Gap between the German call and the call in the visitor's language.
const GAP_SECONDS: f32 = 0.6;
const SYNTH_TIMEOUT: Duration = Duration::from_secs(15);
/// Cache files kept before the oldest are dropped.
const CACHE_FILES: usize = 2000;

#[derive(Debug, Clone)]
pub struct Announcer {
    enabled: bool,
    program: String,
    cache: PathBuf,
}

/// `A-042` → `A 42`: the letter, then the number as a number, as people say it.
pub fn spoken_number(number: &str) -> String {
    match number.split_once('-') {
        Some((prefix, digits)) => {
            let n = digits.trim_start_matches('0');
            format!("{prefix} {}", if n.is_empty() { "0" } else { n })
        }
        None => number.to_string(),
    }
}

/// The sentence of a call in one language, from the shared catalogs.
pub fn sentence(lang: &str, number: &str, room: Option<&str>) -> String {
    let n = spoken_number(number);
    match room {
        Some(r) if !r.trim().is_empty() => {
            assets::text(lang, "call.spoken", &[("number", &n), ("room", r)])
        }
        _ => assets::text(lang, "call.room_fallback", &[("number", &n)]),
    }
}

impl Announcer {
    pub fn new(enabled: bool, program: String, cache: PathBuf) -> Self {
        Self {
            enabled,
            program,
            cache,
        }
    }

    /// The call as one WAV: German first, then the visitor's language if different.
    pub async fn call_wav(&self, number: &str, room: Option<&str>, lang: &str) -> Result<Vec<u8>> {
        if !self.enabled {
            return Err(AnnounceError::Disabled);
        }
        let mut parts = vec![self.speak("de", &sentence("de", number, room)).await?];
        if lang != "de" {
            parts.push(self.speak(lang, &sentence(lang, number, room)).await?);
        }
        concat_wavs(&parts, GAP_SECONDS)
    }

    /// The spoken confirmation of the kiosk's ticket button, in `lang`.
    pub async fn confirmation_wav(&self, number: &str, lang: &str) -> Result<Vec<u8>> {
        if !self.enabled {
            return Err(AnnounceError::Disabled);
        }
        let text = assets::text(
            lang,
            "call.confirmation",
            &[("number", &spoken_number(number))],
        );
        self.speak(lang, &text).await
    }

    /// One sentence in one voice, from the cache or freshly synthesized.
    async fn speak(&self, lang: &str, text: &str) -> Result<Vec<u8>> {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (lang, text).hash(&mut h);
        let file = self.cache.join(format!("{lang}-{:016x}.wav", h.finish()));
        if let Ok(bytes) = tokio::fs::read(&file).await {
            return Ok(bytes);
        }
        tokio::fs::create_dir_all(&self.cache).await?;
        let tmp = file.with_extension(format!("tmp{}", std::process::id()));
        let voice = if lang == "en" { "en-gb" } else { lang };
        let run = Command::new(&self.program)
            .args(["-v", voice, "-s", "140", "-w"])
            .arg(&tmp)
            .arg("--")
            .arg(text)
            .kill_on_drop(true)
            .output();
        let out = tokio::time::timeout(SYNTH_TIMEOUT, run)
            .await
            .map_err(|_| AnnounceError::Synth {
                program: self.program.clone(),
                detail: format!("no result within {SYNTH_TIMEOUT:?}"),
            })?
            .map_err(|e| AnnounceError::Synth {
                program: self.program.clone(),
                detail: e.to_string(),
            })?;
        if !out.status.success() {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(AnnounceError::Synth {
                program: self.program.clone(),
                detail: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
        let bytes = tokio::fs::read(&tmp).await?;
        parse_wav(&bytes)?;
        tokio::fs::rename(&tmp, &file).await?;
        self.trim_cache().await;
        Ok(bytes)
    }

    async fn trim_cache(&self) {
        let Ok(mut dir) = tokio::fs::read_dir(&self.cache).await else {
            return;
        };
        let mut files = vec![];
        while let Ok(Some(e)) = dir.next_entry().await {
            if let Ok(m) = e.metadata().await {
                files.push((m.modified().ok(), e.path()));
            }
        }
        if files.len() <= CACHE_FILES {
            return;
        }
        files.sort();
        for (_, p) in files.iter().take(files.len() - CACHE_FILES / 2) {
            let _ = tokio::fs::remove_file(p).await;
        }
    }
}

/// The format and samples of a PCM WAV file.
#[derive(Debug, PartialEq, Eq)]
struct Wav<'a> {
    fmt: &'a [u8],
    data: &'a [u8],
}

fn parse_wav(b: &[u8]) -> Result<Wav<'_>> {
    if b.len() < 12 || &b[0..4] != b"RIFF" || &b[8..12] != b"WAVE" {
        return Err(AnnounceError::BadAudio("no RIFF/WAVE header"));
    }
    let mut fmt = None;
    let mut data = None;
    let mut i = 12;
    while i + 8 <= b.len() {
        let id = &b[i..i + 4];
        let len = u32::from_le_bytes([b[i + 4], b[i + 5], b[i + 6], b[i + 7]]) as usize;
        let body_end = (i + 8).saturating_add(len).min(b.len());
        let body = &b[i + 8..body_end];
        match id {
            b"fmt " => fmt = Some(body),
            b"data" => data = Some(body),
            _ => {}
        }
        i = body_end + (len & 1);
    }
    let fmt = fmt.ok_or(AnnounceError::BadAudio("no fmt chunk"))?;
    if fmt.len() < 16 || u16::from_le_bytes([fmt[0], fmt[1]]) != 1 {
        return Err(AnnounceError::BadAudio("not PCM"));
    }
    let data = data.ok_or(AnnounceError::BadAudio("no data chunk"))?;
    Ok(Wav { fmt, data })
}

/// Joins WAV files of one format with `gap` seconds of silence between them.
fn concat_wavs(parts: &[Vec<u8>], gap: f32) -> Result<Vec<u8>> {
    let wavs: Vec<Wav<'_>> = parts.iter().map(|p| parse_wav(p)).collect::<Result<_>>()?;
    let Some(first) = wavs.first() else {
        return Err(AnnounceError::BadAudio("nothing to join"));
    };
    let fmt = &first.fmt[..16];
    if wavs.iter().any(|w| &w.fmt[..16] != fmt) {
        return Err(AnnounceError::BadAudio("parts differ in format"));
    }
    let byte_rate = u32::from_le_bytes([fmt[8], fmt[9], fmt[10], fmt[11]]);
    let block = u16::from_le_bytes([fmt[12], fmt[13]]).max(1) as usize;
    let mut silence = (byte_rate as f32 * gap) as usize;
    silence -= silence % block;
    let data_len: usize =
        wavs.iter().map(|w| w.data.len()).sum::<usize>() + silence * (wavs.len() - 1);
    let mut out = Vec::with_capacity(44 + data_len);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&((36 + data_len) as u32).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(fmt);
    out.extend_from_slice(b"data");
    out.extend_from_slice(&(data_len as u32).to_le_bytes());
    for (i, w) in wavs.iter().enumerate() {
        if i > 0 {
            out.resize(out.len() + silence, 0);
        }
        out.extend_from_slice(w.data);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wav(samples: &[i16]) -> Vec<u8> {
        let data: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
        let mut out = b"RIFF".to_vec();
        out.extend_from_slice(&((36 + data.len()) as u32).to_le_bytes());
        out.extend_from_slice(b"WAVEfmt ");
        out.extend_from_slice(&16u32.to_le_bytes());
        out.extend_from_slice(&1u16.to_le_bytes()); // PCM
        out.extend_from_slice(&1u16.to_le_bytes()); // mono
        out.extend_from_slice(&10u32.to_le_bytes()); // 10 Hz keeps the test small
        out.extend_from_slice(&20u32.to_le_bytes());
        out.extend_from_slice(&2u16.to_le_bytes());
        out.extend_from_slice(&16u16.to_le_bytes());
        out.extend_from_slice(b"data");
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(&data);
        out
    }

    #[test]
    fn numbers_are_spoken_as_people_say_them() {
        assert_eq!(spoken_number("A-042"), "A 42");
        assert_eq!(spoken_number("B-100"), "B 100");
        assert_eq!(spoken_number("C-000"), "C 0");
        assert_eq!(
            sentence("de", "A-042", Some("Raum 101")),
            "Nummer A 42, bitte zu Raum 101."
        );
        assert!(sentence("uk", "A-042", Some("Raum 101")).contains("A 42"));
        assert!(sentence("de", "A-042", None).contains("A 42"));
    }

    #[test]
    fn wavs_join_with_silence_between() {
        let joined = concat_wavs(&[wav(&[1, 2]), wav(&[3])], 0.2).unwrap();
        let w = parse_wav(&joined).unwrap();
        // 0.2 s at 20 bytes/s = 4 bytes = 2 silent samples.
        let samples: Vec<i16> = w
            .data
            .chunks(2)
            .map(|c| i16::from_le_bytes([c[0], c[1]]))
            .collect();
        assert_eq!(samples, [1, 2, 0, 0, 3]);
    }

    #[test]
    fn broken_audio_is_refused() {
        assert!(parse_wav(b"RIFF").is_err());
        assert!(parse_wav(b"RIFF\0\0\0\0WAVEjunk\xff\xff\xff\xff").is_err());
        let mut w = wav(&[1]);
        w[20] = 3; // not PCM
        assert!(parse_wav(&w).is_err());
    }

    #[tokio::test]
    async fn espeak_speaks_german_and_the_visitors_language() {
        if std::process::Command::new("espeak-ng")
            .arg("--version")
            .output()
            .is_err()
        {
            eprintln!("espeak-ng is not installed; tests/run installs it");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let a = Announcer::new(true, "espeak-ng".into(), dir.path().to_path_buf());
        let de = a.call_wav("A-042", Some("Raum 101"), "de").await.unwrap();
        let ar = a.call_wav("A-042", Some("Raum 101"), "ar").await.unwrap();
        let de_len = parse_wav(&de).unwrap().data.len();
        let ar_len = parse_wav(&ar).unwrap().data.len();
        assert!(de_len > 20_000, "about a second of speech");
        assert!(ar_len > de_len * 3 / 2, "German, a pause, then Arabic");
        // Cached: the German sentence and the Arabic one.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }
}
