//! Admin overrides against a real SQLite file: validation refuses and changes nothing,
//! accepted changes reach the queue and the audit log, and survive a restart.

use std::sync::Arc;

use super::*;
use crate::clock::SystemClock;
use crate::queue::{CheckinRequest, Queue};

struct Fixture {
    queue: Queue,
    settings: Arc<Settings>,
    _dir: tempfile::TempDir,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings::demo(None).unwrap();
    let db = Db::open(&dir.path().join("lotse.db"), Arc::new(SystemClock), |_| {}).unwrap();
    let queue = Queue::new(db, settings.queue.clone());
    queue.sync_site(&settings).await.unwrap();
    Fixture {
        queue,
        settings: Arc::new(settings),
        _dir: dir,
    }
}

impl Fixture {
    async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Tx<'_>, &Settings) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let s = self.settings.clone();
        self.queue.db().run(move |tx| f(tx, &s)).await
    }

    async fn audit(&self) -> Vec<crate::audit::AuditEntry> {
        self.queue
            .db()
            .run(|tx| crate::audit::list(tx, None, None, 100))
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn a_new_service_reaches_the_queue_and_the_audit_log() {
    let f = fixture().await;
    let mut list = f.with(|tx, s| services(tx, s)).await.unwrap();
    assert_eq!(list.len(), 5);
    list.push(ServiceSetting {
        id: "family".into(),
        prefix: "F".into(),
        icon: None,
        default_minutes: Some(20),
        name: [("de".to_string(), "Familie".to_string())].into(),
    });
    let l = list.clone();
    f.with(move |tx, s| set_services(tx, s, &l, "admin"))
        .await
        .unwrap();
    let live = f.queue.services().await.unwrap();
    assert!(live.iter().any(|s| s.id == "family" && s.prefix == "F"));
    let (t, _) = f
        .queue
        .check_in(CheckinRequest {
            service: "family".into(),
            language: "de".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(t.number, "F-001");
    let a = f.audit().await;
    assert_eq!(a[0].actor, "admin");
    assert_eq!(a[0].action, "setting.changed");
    assert_eq!(a[0].target, "setting services");

    // A counter may now serve it.
    let mut cs = f.with(|tx, s| counters(tx, s)).await.unwrap();
    cs[0].services.push("family".into());
    let c = cs.clone();
    f.with(move |tx, s| set_counters(tx, s, &c, "admin"))
        .await
        .unwrap();
    let called = f.queue.call_next("c1").await.unwrap().unwrap();
    assert_eq!(called.number, "F-001");

    // Removing it now is refused: c1 serves it and a ticket is open.
    let without: Vec<ServiceSetting> = list.into_iter().filter(|s| s.id != "family").collect();
    let e = f
        .with(move |tx, s| set_services(tx, s, &without, "admin"))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("unknown service \"family\""), "{e}");
}

#[tokio::test]
async fn bad_values_are_refused_with_every_problem_and_change_nothing() {
    let f = fixture().await;
    let before = f.with(|tx, s| services(tx, s)).await.unwrap();
    let audit_before = f.audit().await.len();
    let bad = vec![
        ServiceSetting {
            id: "Bad Id".into(),
            prefix: "a1".into(),
            icon: None,
            default_minutes: Some(0),
            name: [("xx".to_string(), "?".to_string())].into(),
        },
        ServiceSetting {
            id: "general".into(),
            prefix: "G".into(),
            icon: None,
            default_minutes: None,
            name: Default::default(),
        },
    ];
    let e = f
        .with(move |tx, s| set_services(tx, s, &bad, "admin"))
        .await
        .unwrap_err();
    let SettingsError::Invalid(p) = &e else {
        panic!("{e:?}")
    };
    assert!(p.len() >= 4, "{p:#?}");
    assert!(p[0].starts_with("services[0].id"), "{p:#?}");
    assert_eq!(f.with(|tx, s| services(tx, s)).await.unwrap(), before);
    assert_eq!(f.audit().await.len(), audit_before);

    let e = f
        .with(|tx, _| {
            set_retention(
                tx,
                &RetentionSettings {
                    personal_data_days_after_delivery: 1,
                    max_days: 91,
                    technical_days: 400,
                },
                "admin",
            )
        })
        .await
        .unwrap_err();
    assert!(e.to_string().contains("retention.max_days"), "{e}");
    let e = f
        .with(|tx, _| {
            let mut m = BTreeMap::new();
            m.insert("xx".to_string(), "Hallo".to_string());
            set_privacy_notices(tx, &m, "admin")
        })
        .await
        .unwrap_err();
    assert!(e.to_string().contains("\"xx\""), "{e}");
    let e = f
        .with(|tx, s| {
            set_case_system(
                tx,
                s,
                &CaseSystemUpdate {
                    url: Some("ftp://x".into()),
                    enabled: true,
                    secret: Some("nope".into()),
                },
                "admin",
            )
        })
        .await
        .unwrap_err();
    assert!(e.to_string().contains("case_system.url"), "{e}");
    assert!(e.to_string().contains("case_system.secret"), "{e}");
    assert_eq!(f.audit().await.len(), audit_before);
}

#[tokio::test]
async fn the_case_system_secret_is_write_only_and_applies_at_start() {
    let f = fixture().await;
    let secret = format!(
        "whsec_{}",
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, [7u8; 32])
    );
    let s2 = secret.clone();
    let view = f
        .with(move |tx, s| {
            set_case_system(
                tx,
                s,
                &CaseSystemUpdate {
                    url: Some("https://fallakte.example/lotse".into()),
                    enabled: true,
                    secret: Some(s2),
                },
                "admin",
            )
        })
        .await
        .unwrap();
    assert!(view.secret_set && view.enabled);
    let json = serde_json::to_string(&view).unwrap();
    assert!(!json.contains(&secret[6..]), "{json}");
    let a = f.audit().await;
    assert!(!a[0].detail.contains(&secret[6..]), "{:?}", a[0]);
    let mut settings = (*f.settings).clone();
    apply_at_start(f.queue.db(), &mut settings).await.unwrap();
    let cs = settings.case_system.unwrap();
    assert_eq!(cs.url.as_deref(), Some("https://fallakte.example/lotse"));
    assert_eq!(cs.secrets[0].expose(), &[7u8; 32]);
}

#[tokio::test]
async fn scanning_is_off_by_default_and_lists_what_was_switched_on() {
    let f = fixture().await;
    assert!(
        f.with(|tx, s| scanning(tx, s))
            .await
            .unwrap()
            .documents()
            .is_empty()
    );
    f.with(|tx, _| {
        set_scanning(
            tx,
            &ScanningSetting {
                passport: true,
                residence_permit: true,
                ..Default::default()
            },
            "admin",
        )
    })
    .await
    .unwrap();
    assert_eq!(
        f.with(|tx, s| scanning(tx, s)).await.unwrap().documents(),
        ["residence_permit", "passport"]
    );
}
