use super::*;

const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f it@musterstadt";

/// A hub with Wi-Fi, a key, an admin password and a small site.
pub(crate) const HUB: &str = r#"[device]
role = "all-in-one"
hostname = "kim-empfang"

[network.wifi]
ssid = "KIM-Geraete"
psk = "wifi-secret-123"

[ssh]
authorized_keys = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f it@musterstadt"]

[admin]
password = "correct horse battery"

[site]
id = "kim-musterstadt"
name = "KIM Musterstadt"

[server]
listen = "0.0.0.0:8081"

[[services]]
id = "general"
prefix = "A"

[[counters]]
id = "c1"
name = "Schalter 1"
services = ["general"]

[case_system]
url = "https://fallakte.example/lotse"
secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
"#;

fn problems(src: &str) -> Vec<Problem> {
    parse(src, Path::new("/boot/firmware")).unwrap_err()
}

#[test]
fn a_good_hub_file_validates() {
    let p = parse(HUB, Path::new("/boot")).unwrap();
    assert_eq!(p.role, Role::AllInOne);
    assert_eq!(p.hostname, "kim-empfang");
    assert_eq!(p.site_id, "kim-musterstadt");
    assert_eq!(p.hub, None);
    assert_eq!(p.kiosk_url(), "http://127.0.0.1:8081/kiosk");
    assert_eq!(p.ssh_keys, vec![KEY.to_string()]);
    let cfg = p.config.as_deref().unwrap();
    assert!(
        cfg.contains("[[services]]") && cfg.contains("whsec_"),
        "{cfg}"
    );
    assert!(
        !cfg.contains("[device]") && !cfg.contains("wifi-secret"),
        "{cfg}"
    );
    // What is written is a valid configuration on its own.
    Settings::from_toml(cfg).unwrap();
}

#[test]
fn a_satellite_display_points_at_the_hub() {
    let src = "[device]\nrole = \"display\"\nhostname = \"kim-wartezimmer\"\nhub = \"http://kim-empfang.local:8081/\"\n\n[network.static]\naddress = \"192.168.10.21/24\"\ngateway = \"192.168.10.1\"\ndns = [\"192.168.10.1\"]\n\n[site]\nid = \"kim-musterstadt\"\n";
    let p = parse(src, Path::new("/boot")).unwrap();
    assert_eq!(p.kiosk_url(), "http://kim-empfang.local:8081/display");
    assert!(p.config.is_none());
    assert_eq!(p.static_ip.as_ref().unwrap().interface, "eth0");
}

#[test]
fn every_problem_is_reported_with_its_line() {
    let src = r#"[device]
role = "kiosque"
hostname = "-bad-"

[network.wifi]
ssid = "x"
psk = "short"

[network.static]
address = "192.168.1.300/24"

[ssh]
authorized_keys = ["ssh-ed25519 AAAAnotakey", "-----BEGIN OPENSSH PRIVATE KEY-----"]

[admin]
password = "short"

[site]
id = "Bad Id"

[[services]]
id = "general"
prefix = "a"
"#;
    let got: Vec<String> = problems(src).iter().map(|p| p.to_string()).collect();
    let want = [
        "line 2: device.role",
        "line 3: device.hostname",
        "line 7: network.wifi.psk",
        "line 10: network.static.address",
        "line 13: ssh.authorized_keys",
        "line 16: admin.password",
        "line 19: site.id",
        "line 23: services[0].prefix",
    ];
    for w in want {
        assert!(
            got.iter().any(|g| g.starts_with(w)),
            "missing {w} in {got:#?}"
        );
    }
    // Both bad keys are reported.
    assert_eq!(
        got.iter().filter(|g| g.starts_with("line 13: ssh")).count(),
        2,
        "{got:#?}"
    );
}

#[test]
fn missing_pieces_and_contradictions() {
    let got: Vec<String> = problems("[site]\nid = \"x\"\n")
        .iter()
        .map(|p| p.to_string())
        .collect();
    assert!(
        got.iter().any(|g| g.contains("[device] table is required")),
        "{got:?}"
    );

    let src = "[device]\nrole = \"all-in-one\"\nhostname = \"a\"\nhub = \"http://hub:8080\"\n[site]\nid = \"x\"\n";
    let got: Vec<String> = problems(src).iter().map(|p| p.to_string()).collect();
    assert!(
        got.iter().any(|g| g.starts_with("line 4: device.hub")),
        "{got:?}"
    );

    // A satellite carries no site configuration.
    let src = "[device]\nrole = \"kiosk\"\nhostname = \"a\"\nhub = \"http://hub:8080\"\n[site]\nid = \"x\"\n[[services]]\nid = \"g\"\nprefix = \"A\"\n";
    let got: Vec<String> = problems(src).iter().map(|p| p.to_string()).collect();
    assert!(
        got.iter().any(|g| g.starts_with("line 7: services")),
        "{got:?}"
    );

    let src = "[device]\nrole = \"desk\"\nhostname = \"a\"\n[admin]\npassword = \"long enough password\"\npassword_hash = \"$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo\"\n[site]\nid = \"x\"\n[[services]]\nid = \"g\"\nprefix = \"A\"\n[[counters]]\nid = \"c\"\nname = \"C\"\nservices = [\"g\"]\n";
    let got: Vec<String> = problems(src).iter().map(|p| p.to_string()).collect();
    assert!(got.iter().any(|g| g.contains("not both")), "{got:?}");

    let got: Vec<String> = problems("[device]\nrole = \"kiosk\"\nnope = 1\n")
        .iter()
        .map(|p| p.to_string())
        .collect();
    assert!(
        got[0].starts_with("line 3: toml") || got[0].contains("nope"),
        "{got:?}"
    );
}

#[test]
fn a_phc_hash_is_accepted_and_a_plain_string_is_not() {
    let hash = hash_password("correct horse battery").unwrap();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    let src = HUB.replace(
        "password = \"correct horse battery\"",
        &format!("password_hash = \"{hash}\""),
    );
    let p = parse(&src, Path::new("/boot")).unwrap();
    assert!(matches!(p.admin, Some(Admin::Hash(ref h)) if *h == hash));
    let src = HUB.replace(
        "password = \"correct horse battery\"",
        "password_hash = \"5f4dcc3b5aa765d61d8327deb882cf99\"",
    );
    let got = problems(&src);
    assert!(
        got.iter()
            .any(|p| p.key == "admin.password_hash" && p.line == Some(13)),
        "{got:?}"
    );
}

#[test]
fn applying_writes_the_root_and_running_wipes_the_secrets() {
    let boot = tempfile::tempdir().unwrap();
    let root = tempfile::tempdir().unwrap();
    let file = boot.path().join("lotse-provision.toml");
    fs::write(&file, HUB).unwrap();
    // A stale marker from an earlier bad file goes away.
    fs::create_dir_all(root.path().join("var/lib/lotse")).unwrap();
    fs::write(root.path().join(MARKER), "old").unwrap();

    let out = run(&file, root.path()).unwrap();
    assert!(matches!(out, Outcome::Applied { .. }), "{out:?}");
    let r = root.path();
    assert_eq!(
        fs::read_to_string(r.join("etc/hostname")).unwrap(),
        "kim-empfang\n"
    );
    let cfg = fs::read_to_string(r.join(CONFIG)).unwrap();
    Settings::from_toml(&cfg).unwrap();
    assert_eq!(
        fs::metadata(r.join(CONFIG)).unwrap().permissions().mode() & 0o777,
        0o640
    );
    let hash = fs::read_to_string(r.join(ADMIN_HASH)).unwrap();
    assert!(hash.starts_with("$argon2id$"));
    assert_eq!(
        fs::metadata(r.join(ADMIN_HASH))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    let wpa = fs::read_to_string(r.join("etc/wpa_supplicant/wpa_supplicant-wlan0.conf")).unwrap();
    assert!(wpa.contains("ssid=\"KIM-Geraete\"") && wpa.contains("psk=\"wifi-secret-123\""));
    assert!(
        r.join("etc/systemd/system/multi-user.target.wants/wpa_supplicant@wlan0.service")
            .is_symlink()
    );
    assert_eq!(
        fs::read_link(r.join("etc/systemd/system/multi-user.target.wants/lotse.service")).unwrap(),
        Path::new("/usr/lib/systemd/system/lotse.service")
    );
    assert!(
        fs::read_to_string(r.join("etc/systemd/network/10-lotse-eth0.network"))
            .unwrap()
            .contains("DHCP=yes")
    );
    assert!(
        fs::read_to_string(r.join("root/.ssh/authorized_keys"))
            .unwrap()
            .contains(KEY)
    );
    assert_eq!(
        fs::read_to_string(r.join(KIOSK_ENV)).unwrap(),
        "LOTSE_KIOSK_URL=http://127.0.0.1:8081/kiosk\n"
    );
    assert!(!r.join(MARKER).exists());

    // The boot partition keeps no secret.
    assert!(!file.exists());
    let kept = fs::read_to_string(boot.path().join("lotse-provision.toml.applied")).unwrap();
    for secret in ["wifi-secret-123", "correct horse battery", "whsec_MfKQ"] {
        assert!(!kept.contains(secret), "{secret} left in {kept}");
    }
    assert!(kept.contains("hostname = \"kim-empfang\""));
    // The redacted copy is still TOML (but not a valid provisioning file: no password).
    toml::from_str::<toml::Table>(&kept).unwrap();
}

#[test]
fn a_bad_file_changes_nothing_but_the_marker() {
    let boot = tempfile::tempdir().unwrap();
    let root = tempfile::tempdir().unwrap();
    let file = boot.path().join("lotse-provision.toml");
    let bad = HUB.replace("prefix = \"A\"", "prefix = \"lower\"");
    fs::write(&file, &bad).unwrap();
    let out = run(&file, root.path()).unwrap();
    let Outcome::NeedsProvisioning { problems, marker } = out else {
        panic!("{out:?}")
    };
    assert_eq!(problems.len(), 1, "{problems:?}");
    let text = fs::read_to_string(&marker).unwrap();
    assert!(text.contains("line 24: services[0].prefix"), "{text}");
    assert_eq!(
        read_marker(&root.path().join("var/lib/lotse"))
            .unwrap()
            .len(),
        2
    );
    // Nothing else was written and the file is as IT staff left it.
    assert!(!root.path().join("etc").exists());
    assert_eq!(fs::read_to_string(&file).unwrap(), bad);
}

#[test]
fn client_certificates_are_copied_and_the_key_wiped() {
    let boot = tempfile::tempdir().unwrap();
    let root = tempfile::tempdir().unwrap();
    let file = boot.path().join("lotse-provision.toml");
    // Real PEM files, as the configuration parses them.
    let cert = rcgen_like_pem();
    fs::write(boot.path().join("client.pem"), &cert.0).unwrap();
    fs::write(boot.path().join("client.key"), &cert.1).unwrap();
    let src = format!("{HUB}client_cert = \"client.pem\"\nclient_key = \"client.key\"\n");
    fs::write(&file, &src).unwrap();
    match run(&file, root.path()).unwrap() {
        Outcome::Applied { .. } => {}
        Outcome::NeedsProvisioning { problems, .. } => {
            // The test PEM may not be accepted by the TLS stack; then the problem must
            // name the key and nothing is applied.
            assert!(
                problems.iter().any(|p| p.key.starts_with("case_system")),
                "{problems:?}"
            );
            return;
        }
    }
    let cfg = fs::read_to_string(root.path().join(CONFIG)).unwrap();
    assert!(
        cfg.contains("client_cert = \"/etc/lotse/client.pem\""),
        "{cfg}"
    );
    assert!(root.path().join("etc/lotse/client.key").exists());
    assert!(!boot.path().join("client.key").exists());
    assert!(boot.path().join("client.pem").exists());
}

/// A self-signed certificate and key made with openssl, or placeholders without it.
fn rcgen_like_pem() -> (Vec<u8>, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let ok = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-subj",
            "/CN=lotse",
            "-days",
            "1",
            "-keyout",
        ])
        .arg(dir.path().join("k.pem"))
        .arg("-out")
        .arg(dir.path().join("c.pem"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if ok {
        (
            fs::read(dir.path().join("c.pem")).unwrap(),
            fs::read(dir.path().join("k.pem")).unwrap(),
        )
    } else {
        (b"not a cert".to_vec(), b"not a key".to_vec())
    }
}

#[test]
fn files_the_appliance_reads_belong_to_group_lotse() {
    let me_uid = fs::metadata("/proc/self").unwrap();
    let (uid, gid) = (
        std::os::unix::fs::MetadataExt::uid(&me_uid),
        std::os::unix::fs::MetadataExt::gid(&me_uid),
    );
    let root = tempfile::tempdir().unwrap();
    fs::create_dir_all(root.path().join("etc")).unwrap();
    // Our own ids stand in for lotse's, so chown works without privileges.
    fs::write(
        root.path().join("etc/passwd"),
        format!(
            "root:x:0:0::/root:/bin/sh\nlotse:x:{uid}:{gid}::/var/lib/lotse:/usr/sbin/nologin\n"
        ),
    )
    .unwrap();
    fs::write(
        root.path().join("etc/group"),
        format!("root:x:0:\nlotse:x:{gid}:\n"),
    )
    .unwrap();
    assert_eq!(lotse_ids(root.path()), (Some(uid), Some(gid)));
    let p = parse(HUB, Path::new("/boot")).unwrap();
    p.apply(root.path()).unwrap();
    let m = fs::metadata(root.path().join(CONFIG)).unwrap();
    assert_eq!(std::os::unix::fs::MetadataExt::gid(&m), gid);
}

#[test]
fn header_detection_ignores_arrays() {
    assert_eq!(header("[device]").as_deref(), Some("device"));
    assert_eq!(header("[network.wifi] # x").as_deref(), Some("network"));
    assert_eq!(header("[[services]]").as_deref(), Some("services"));
    assert_eq!(header("  [\"a\", \"b\"],"), None);
    assert_eq!(header("dns = [\"1.1.1.1\"]"), None);
}

/// Found by the `config` fuzz target: a passphrase or password of digits written without
/// quotes came back in serde's message ("invalid type: integer `…`"), which the marker
/// shows on the kiosk screen.
#[test]
fn a_secret_written_as_a_number_is_not_repeated() {
    for (from, to) in [
        ("psk = \"wifi-secret-123\"", "psk = 20250917314159"),
        (
            "password = \"correct horse battery\"",
            "password = 20250917314159",
        ),
        (
            "secret = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"",
            "secret = [20250917314159]",
        ),
    ] {
        let src = HUB.replace(from, to);
        let got: Vec<String> = problems(&src).iter().map(|p| p.to_string()).collect();
        assert_eq!(got.len(), 1, "{got:#?}");
        assert!(!got[0].contains("20250917314159"), "{got:#?}");
        assert!(got[0].contains("quoted string"), "{got:#?}");
    }
}

#[test]
fn a_hub_with_tls_gets_a_certificate_that_the_configuration_names() {
    let boot = tempfile::tempdir().unwrap();
    let root = tempfile::tempdir().unwrap();
    let file = boot.path().join("lotse-provision.toml");
    let src = format!(
        "{}\n[tls]\nself_signed = true\nnames = [\"empfang.kreis-muster.de\"]\n",
        HUB.replace(
            "[site]",
            "[network.static]\naddress = \"192.168.10.20/24\"\n\n[site]"
        )
    );
    fs::write(&file, &src).unwrap();
    let p = parse(&src, boot.path()).unwrap();
    assert_eq!(
        p.tls,
        Some(ProvisionTls::SelfSigned {
            names: vec!["empfang.kreis-muster.de".into()]
        })
    );
    let Outcome::Applied { applied, .. } = run(&file, root.path()).unwrap() else {
        panic!("not applied")
    };
    let r = root.path();
    let cfg = fs::read_to_string(r.join(CONFIG)).unwrap();
    let s = Settings::from_toml(&cfg).unwrap();
    let tls = s.tls.expect("TLS is on");
    assert_eq!(tls.cert, Path::new("/etc/lotse/tls/cert.pem"));
    assert_eq!(tls.key, Path::new("/etc/lotse/tls/key.pem"));
    assert_eq!(tls.listen, "0.0.0.0:8443".parse().unwrap());
    assert_eq!(s.listen.port(), 8081, "the rest of [server] stays");
    let mode = |rel: &str| fs::metadata(r.join(rel)).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(TLS_KEY), 0o640);
    assert_eq!(mode(TLS_CERT), 0o644);
    let ck = crate::tls::load(&r.join(TLS_CERT), &r.join(TLS_KEY)).unwrap();
    let spki = crate::tls::spki_sha256(&ck).unwrap();
    assert!(
        applied.notes.iter().any(|n| n.contains(&spki)),
        "{:?}",
        applied.notes
    );
    // The certificate names the host as the LAN reaches it.
    let pem = fs::read_to_string(r.join(TLS_CERT)).unwrap();
    use rustls::pki_types::pem::PemObject;
    let der = rustls::pki_types::CertificateDer::from_pem_slice(pem.as_bytes()).unwrap();
    let text = String::from_utf8_lossy(der.as_ref());
    for name in [
        "kim-empfang",
        "kim-empfang.local",
        "empfang.kreis-muster.de",
    ] {
        assert!(text.contains(name), "{name} not in the certificate");
    }
    assert!(
        der.as_ref().windows(4).any(|w| w == [192, 168, 10, 20]),
        "static address"
    );
    // Provisioning again keeps the certificate browsers may trust by now.
    fs::write(&file, &src).unwrap();
    let Outcome::Applied { applied, .. } = run(&file, root.path()).unwrap() else {
        panic!("not applied")
    };
    assert_eq!(fs::read_to_string(r.join(TLS_CERT)).unwrap(), pem);
    assert!(applied.notes.iter().any(|n| n.starts_with("kept")));
}

#[test]
fn a_certificate_from_the_boot_partition_is_checked_copied_and_its_key_wiped() {
    let boot = tempfile::tempdir().unwrap();
    let root = tempfile::tempdir().unwrap();
    let pair = crate::tls::self_signed(&["kim-empfang".into()], chrono::Utc::now(), 30).unwrap();
    let other = crate::tls::self_signed(&["x".into()], chrono::Utc::now(), 30).unwrap();
    fs::write(boot.path().join("hub.pem"), &pair.cert_pem).unwrap();
    fs::write(boot.path().join("hub.key"), &pair.key_pem).unwrap();
    fs::write(boot.path().join("wrong.key"), &other.key_pem).unwrap();
    let file = boot.path().join("lotse-provision.toml");
    // A key that does not fit: a problem at the cert line, nothing applied.
    let bad = format!("{HUB}\n[tls]\ncert = \"hub.pem\"\nkey = \"wrong.key\"\n");
    let p = parse(&bad, boot.path()).unwrap_err();
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(p[0].key, "tls.cert");
    assert_eq!(p[0].line, Some(36), "{p:?}");
    assert!(p[0].message.contains("does not belong"), "{p:?}");

    let src = format!("{HUB}\n[tls]\ncert = \"hub.pem\"\nkey = \"hub.key\"\n");
    fs::write(&file, &src).unwrap();
    assert!(matches!(
        run(&file, root.path()).unwrap(),
        Outcome::Applied { .. }
    ));
    assert_eq!(
        fs::read_to_string(root.path().join(TLS_CERT)).unwrap(),
        pair.cert_pem
    );
    assert!(root.path().join(TLS_KEY).exists());
    assert!(!boot.path().join("hub.key").exists(), "the key is wiped");
    assert!(boot.path().join("hub.pem").exists());
    let cfg = fs::read_to_string(root.path().join(CONFIG)).unwrap();
    assert!(Settings::from_toml(&cfg).unwrap().tls.is_some(), "{cfg}");
}

#[test]
fn tls_problems_point_at_their_lines() {
    let lines =
        |src: &str| -> Vec<String> { problems(src).iter().map(|p| p.to_string()).collect() };
    // Both ways at once; names only for a generated certificate.
    let t = lines(&format!(
        "{HUB}\n[tls]\nself_signed = true\ncert = \"hub.pem\"\n"
    ));
    assert_eq!(
        t,
        ["line 37: tls: give either self_signed = true or cert and key, not both"]
    );
    let t = lines(&format!("{HUB}\n[tls]\nnames = [\"a\"]\n"));
    assert_eq!(t.len(), 2, "{t:#?}");
    assert!(
        t[0].starts_with("line 35: tls: set self_signed = true"),
        "{t:#?}"
    );
    assert!(
        t[1].starts_with("line 36: tls.names: only with self_signed"),
        "{t:#?}"
    );
    // The certificate comes from [tls] only.
    let t = lines(&format!(
        "{}\n[tls]\nself_signed = true\n",
        HUB.replace(
            "listen = \"0.0.0.0:8081\"",
            "listen = \"0.0.0.0:8081\"\ntls_cert = \"/x.pem\""
        )
    ));
    assert_eq!(t.len(), 1, "{t:#?}");
    assert!(
        t[0].starts_with("line 21: server.tls_cert: the certificate comes from"),
        "{t:#?}"
    );
    // Satellites: no [tls]; hub_spki only with an https hub, and well-formed.
    let sat = "[device]\nrole = \"display\"\nhostname = \"kim-wartezimmer\"\nhub = \"http://kim-empfang.local:8081\"\nhub_spki = \"abc\"\n\n[site]\nid = \"kim-musterstadt\"\n\n[tls]\nself_signed = true\n";
    let t = lines(sat);
    assert_eq!(t.len(), 2, "{t:#?}");
    assert!(
        t[0].starts_with("line 5: device.hub_spki: is not a base64 SHA-256"),
        "{t:#?}"
    );
    assert!(
        t[1].starts_with("line 10: tls: only the hub serves HTTPS"),
        "{t:#?}"
    );
    let spki = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
    let t = lines(&format!(
        "[device]\nrole = \"display\"\nhostname = \"w\"\nhub = \"http://h:8081\"\nhub_spki = \"{spki}\"\n[site]\nid = \"k\"\n"
    ));
    assert!(
        t[0].starts_with("line 5: device.hub_spki: only for a hub reached over HTTPS"),
        "{t:#?}"
    );
}

#[test]
fn a_display_trusts_its_self_signed_hub_by_the_key_alone() {
    let root = tempfile::tempdir().unwrap();
    let spki = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
    let src = format!(
        "[device]\nrole = \"display\"\nhostname = \"w\"\nhub = \"https://kim-empfang.local:8443\"\nhub_spki = \"{spki}\"\n[site]\nid = \"k\"\n"
    );
    let p = parse(&src, Path::new("/boot")).unwrap();
    p.apply(root.path()).unwrap();
    assert_eq!(
        fs::read_to_string(root.path().join(KIOSK_ENV)).unwrap(),
        format!(
            "LOTSE_KIOSK_URL=https://kim-empfang.local:8443/display\nLOTSE_KIOSK_FLAGS=--user-data-dir=/run/lotse-kiosk/chromium --ignore-certificate-errors-spki-list={spki}\n"
        )
    );
}
