//! Configuration and provisioning files: arbitrary text through `Settings::from_toml`
//! (TOML → validated `Settings` with line-numbered problems), the demo overlay
//! (`lotse demo --config FILE`) and `provision::parse` (validation only; nothing is
//! applied). Checked beyond "no panic":
//! - every problem's line lies within the text it is about, and a problem about
//!   something the text contains has one;
//! - no message repeats a secret value (case-system `secret`, `signing_key`,
//!   `feed_token`, wifi `psk`, admin `password`/`password_hash`): each secret of the input
//!   is changed to a value found nowhere else in the text, and the messages are searched
//!   for it;
//! - validity does not depend on formatting: the text as `toml` writes it back validates
//!   to the same `Settings`, or fails too;
//! - a valid provisioning file's redacted copy and written configuration hold none of its
//!   secrets, and that configuration validates on its own.
#![no_main]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use lotse_server::config::{ConfigError, Problem, Settings};
use lotse_server::provision;

/// Where relative certificate paths of a provisioning file point: nowhere.
const BOOT: &str = "/nonexistent-lotse-fuzz-boot";

/// Secret keys by table, as they may appear in either kind of file.
const SECRETS: &[(&str, &str)] = &[
    ("case_system", "secret"),
    ("case_system", "signing_key"),
    ("case_system", "feed_token"),
    ("admin", "password"),
    ("admin", "password_hash"),
    ("network.wifi", "psk"),
];

fn last_line(src: &str) -> usize {
    src.bytes().filter(|b| *b == b'\n').count() + 1
}

/// Whether a problem's key (`services[1].id`, `gpio.pins[0]`) names something
/// written in the text.
fn present(table: &toml::Table, key: &str) -> bool {
    let key = key.split(' ').next().unwrap_or("");
    if key == "toml" {
        return false;
    }
    let mut at: Option<&toml::Value> = None;
    for part in key.split('.') {
        let (name, index) = match part.split_once('[') {
            Some((n, rest)) => (n, rest.trim_end_matches(']').parse::<usize>().ok()),
            None => (part, None),
        };
        let next = match at {
            None => table.get(name),
            Some(toml::Value::Table(t)) => t.get(name),
            Some(_) => None,
        };
        let Some(mut v) = next else {
            return false;
        };
        if let Some(i) = index {
            match v.as_array().and_then(|a| a.get(i)) {
                Some(x) => v = x,
                None => return false,
            }
        }
        at = Some(v);
    }
    at.is_some()
}

/// Every problem has a line within the text, unless it is about something the text
/// does not contain (a missing table or key).
fn check_lines(what: &str, src: &str, problems: &[Problem]) {
    assert!(!problems.is_empty(), "{what}: invalid without a problem");
    let last = last_line(src);
    let table = toml::from_str::<toml::Table>(src).ok();
    for p in problems {
        match p.line {
            Some(l) => assert!(
                (1..=last).contains(&l),
                "{what}: line {l} outside the text (1..={last}): {p}"
            ),
            None => assert!(
                !table.as_ref().is_some_and(|t| present(t, &p.key)),
                "{what}: no line although {} is in the text: {p}",
                p.key
            ),
        }
    }
}

/// The overlay file of `lotse demo --config`, one per process; files of processes that
/// are gone (libFuzzer ends with `exit`, which runs no destructor) are removed first.
fn overlay_path() -> &'static Path {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| {
        let dir = if Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(pid) = name
                .strip_prefix("lotse-fuzz-overlay-")
                .and_then(|n| n.strip_suffix(".toml"))
                && !Path::new(&format!("/proc/{pid}")).exists()
            {
                let _ = std::fs::remove_file(e.path());
            }
        }
        dir.join(format!("lotse-fuzz-overlay-{}.toml", std::process::id()))
    })
}

/// Validates `src` every way it can be read; returns every message and, when valid,
/// the settings and the provisioning result.
struct Outcome {
    messages: Vec<String>,
    config: Result<Settings, Vec<Problem>>,
    provision: Result<provision::Provision, Vec<Problem>>,
}

fn run(src: &str) -> Outcome {
    let mut messages = Vec::new();
    let config = match Settings::from_toml(src) {
        Ok(s) => Ok(s),
        Err(ConfigError::Invalid(p)) => {
            check_lines("config", src, &p);
            messages.extend(p.iter().map(|p| p.to_string()));
            Err(p)
        }
        Err(e) => panic!("config: not a validation error: {e}"),
    };
    if std::fs::write(overlay_path(), src).is_ok() {
        match Settings::demo(Some(overlay_path())) {
            Ok(_) => {}
            Err(ConfigError::Invalid(p)) => {
                check_lines("demo overlay", src, &p);
                messages.extend(p.iter().map(|p| p.to_string()));
            }
            Err(e) => panic!("demo overlay: not a validation error: {e}"),
        }
    }
    let provision = provision::parse(src, Path::new(BOOT));
    if let Err(p) = &provision {
        check_lines("provision", src, p);
        messages.extend(p.iter().map(|p| p.to_string()));
    }
    Outcome {
        messages,
        config,
        provision,
    }
}

fn lookup<'a>(t: &'a toml::Table, dotted: &str) -> Option<&'a toml::Value> {
    let mut parts = dotted.split('.');
    let mut v = t.get(parts.next()?)?;
    for p in parts {
        v = v.as_table()?.get(p)?;
    }
    Some(v)
}

/// The texts a value could show up as in a message.
fn texts(v: &toml::Value, out: &mut Vec<String>) {
    match v {
        toml::Value::String(s) => out.push(s.clone()),
        toml::Value::Integer(i) => out.push(i.to_string()),
        toml::Value::Float(f) => out.push(f.to_string()),
        toml::Value::Datetime(d) => out.push(d.to_string()),
        toml::Value::Boolean(_) => {}
        toml::Value::Array(a) => a.iter().for_each(|v| texts(v, out)),
        toml::Value::Table(t) => t.values().for_each(|v| texts(v, out)),
    }
}

/// Secret values written literally, exactly once, and long enough to recognise.
fn secrets(src: &str, table: &toml::Table) -> Vec<String> {
    let mut all = Vec::new();
    for (t, k) in SECRETS {
        if let Some(v) = lookup(table, &format!("{t}.{k}")) {
            texts(v, &mut all);
        }
    }
    all.retain(|s| {
        s.len() >= 6
            && s.chars().any(|c| c.is_ascii_alphanumeric())
            && src.matches(s.as_str()).count() == 1
    });
    all
}

/// The same shape of value with its second half changed (digits stay digits, letters
/// letters), so the same rules apply but the text is new.
fn changed(s: &str) -> String {
    let half = s.len() / 2;
    s.char_indices()
        .map(|(i, c)| {
            if i < half {
                return c;
            }
            match c {
                '1'..='8' => char::from(c as u8 + 1),
                '9' => '1',
                'a'..='y' | 'A'..='Y' => char::from(c as u8 + 1),
                'z' => 'a',
                'Z' => 'A',
                c => c,
            }
        })
        .collect()
}

fn settings_text(s: &Settings) -> String {
    format!("{s:?}")
}

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    let out = run(src);
    let Ok(table) = toml::from_str::<toml::Table>(src) else {
        return;
    };

    // No message repeats a secret.
    for secret in secrets(src, &table) {
        let new = changed(&secret);
        if new == secret {
            continue;
        }
        let src2 = src.replacen(&secret, &new, 1);
        if src2.matches(new.as_str()).count() != 1 {
            continue;
        }
        for m in run(&src2).messages {
            assert!(
                !m.contains(&new),
                "a message repeats the secret value {new:?}: {m}"
            );
        }
        if let Ok(p) = &out.provision {
            let red = provision::redacted(src, p);
            assert!(
                !red.contains(&secret),
                "the redacted copy keeps {secret:?}:\n{red}"
            );
        }
    }

    // Validity does not depend on how the TOML is written.
    if let Ok(again) = toml::to_string(&table)
        && toml::from_str::<toml::Table>(&again).as_ref() == Ok(&table)
    {
        match (&out.config, Settings::from_toml(&again)) {
            (Ok(a), Ok(b)) => assert_eq!(settings_text(a), settings_text(&b), "{again}"),
            (Err(_), Err(_)) => {}
            (a, b) => panic!(
                "valid {} as written, valid {} as rewritten:\n{again}",
                a.is_ok(),
                b.is_ok()
            ),
        }
    }

    // A valid provisioning file writes a configuration that validates on its own and
    // holds none of the provisioning secrets.
    if let Ok(p) = &out.provision
        && let Some(cfg) = &p.config
    {
        for (t, k) in SECRETS.iter().filter(|(t, _)| *t != "case_system") {
            if let Some(v) = lookup(&table, &format!("{t}.{k}")) {
                let mut s = Vec::new();
                texts(v, &mut s);
                for s in s
                    .iter()
                    .filter(|s| s.len() >= 6 && src.matches(s.as_str()).count() == 1)
                {
                    assert!(
                        !cfg.contains(s.as_str()),
                        "{t}.{k} is in lotse.toml:\n{cfg}"
                    );
                }
            }
        }
        if p.files.is_empty() {
            if let Err(e) = Settings::from_toml(cfg) {
                panic!("the written lotse.toml is invalid: {e}\n{cfg}");
            }
        }
    }
});
