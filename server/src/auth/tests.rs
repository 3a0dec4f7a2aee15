//! Accounts, sessions, lockout and tokens against a real SQLite file and a manual clock.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use chrono::{TimeZone, Utc};

use super::*;
use crate::clock::ManualClock;

const PW: &str = "correct horse battery";
const IP: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

struct Fixture {
    auth: Auth,
    clock: Arc<ManualClock>,
    _dir: tempfile::TempDir,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 3, 2, 8, 0, 0).unwrap(),
    ));
    let db = Db::open(&dir.path().join("lotse.db"), clock.clone(), |_| {}).unwrap();
    let auth = Auth::new(db, clock.clone(), Some(b"config-feed-token-0123"));
    auth.create_account("anna", PW, Role::Desk).await.unwrap();
    auth.create_account("root", PW, Role::Admin).await.unwrap();
    Fixture {
        auth,
        clock,
        _dir: dir,
    }
}

#[tokio::test]
async fn login_issues_a_new_session_id_every_time_and_ends_the_old_one() {
    let f = fixture().await;
    let a = f.auth.login("anna", PW, IP, None).await.unwrap();
    assert_eq!(a.info.role, Role::Desk);
    assert_eq!(a.id.len(), 43);
    let b = f.auth.login("anna", PW, IP, Some(&a.id)).await.unwrap();
    assert_ne!(a.id, b.id);
    assert_ne!(a.info.csrf_token, b.info.csrf_token);
    assert!(f.auth.session(&a.id).await.unwrap().is_none());
    assert!(f.auth.session(&b.id).await.unwrap().is_some());
    // Only the hash is stored.
    let stored: Vec<String> = f
        .auth
        .db
        .run(|tx| {
            let mut st = tx.conn.prepare("SELECT id_hash FROM sessions")?;
            let v = st
                .query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<Vec<String>>>()?;
            Ok::<_, StorageError>(v)
        })
        .await
        .unwrap();
    assert_eq!(stored, vec![sha256_hex(&b.id)]);
}

#[tokio::test]
async fn sessions_expire_after_30_idle_minutes() {
    let f = fixture().await;
    let s = f.auth.login("anna", PW, IP, None).await.unwrap();
    f.clock.advance(Duration::minutes(29));
    assert!(f.auth.session(&s.id).await.unwrap().is_some(), "touched");
    f.clock.advance(Duration::minutes(29));
    assert!(
        f.auth.session(&s.id).await.unwrap().is_some(),
        "idle timer restarted"
    );
    f.clock.advance(Duration::minutes(30));
    assert!(f.auth.session(&s.id).await.unwrap().is_none());
    // An expired session stays expired even if the clock went back.
    f.clock.advance(Duration::minutes(-30));
    assert!(f.auth.session(&s.id).await.unwrap().is_none());
}

#[tokio::test]
async fn sessions_end_12_hours_after_login_however_active() {
    let f = fixture().await;
    let s = f.auth.login("anna", PW, IP, None).await.unwrap();
    for _ in 0..47 {
        f.clock.advance(Duration::minutes(15));
        assert!(f.auth.session(&s.id).await.unwrap().is_some());
    }
    f.clock.advance(Duration::minutes(15));
    assert!(f.auth.session(&s.id).await.unwrap().is_none());
}

#[tokio::test]
async fn logout_ends_the_session_on_the_server() {
    let f = fixture().await;
    let s = f.auth.login("anna", PW, IP, None).await.unwrap();
    f.auth.logout(&s.info.id_hash).await.unwrap();
    assert!(f.auth.session(&s.id).await.unwrap().is_none());
}

#[tokio::test]
async fn five_failures_lock_the_account_for_15_minutes() {
    let f = fixture().await;
    for _ in 0..LOCK_AFTER_FAILURES {
        let e = f.auth.login("anna", "wrong password!", IP, None).await;
        assert!(matches!(e, Err(AuthError::BadCredentials)), "{e:?}");
    }
    let e = f.auth.login("anna", PW, IP, None).await;
    assert!(matches!(e, Err(AuthError::Locked { .. })), "{e:?}");
    let listed = f.auth.accounts().await.unwrap();
    let anna = listed.iter().find(|a| a.username == "anna").unwrap();
    assert_eq!(anna.locked_until, Some(f.clock.now() + LOCK_DURATION));
    // Other accounts are not affected.
    f.auth.login("root", PW, IP, None).await.unwrap();
    f.clock.advance(Duration::minutes(14));
    assert!(f.auth.login("anna", PW, IP, None).await.is_err());
    f.clock.advance(Duration::minutes(1));
    f.auth.login("anna", PW, IP, None).await.unwrap();
}

/// The lockout must not tell which names have an account: a name without one is
/// locked after the same failures, with the same answer and the same `Retry-After`.
#[tokio::test]
async fn unknown_names_are_locked_exactly_like_accounts() {
    let f = fixture().await;
    let answers = |name: &'static str| {
        let auth = f.auth.clone();
        async move {
            let mut out = Vec::new();
            for _ in 0..=LOCK_AFTER_FAILURES {
                out.push(match auth.login(name, "wrong password!", IP, None).await {
                    Err(AuthError::BadCredentials) => "bad".to_string(),
                    Err(AuthError::Locked {
                        retry_after_secs, ..
                    }) => format!("locked {retry_after_secs}"),
                    other => format!("{other:?}"),
                });
            }
            out
        }
    };
    let real = answers("anna").await;
    let unknown = answers("nobody").await;
    assert_eq!(real, unknown);
    assert_eq!(real.last().unwrap(), "locked 900");
    f.clock.advance(LOCK_DURATION);
    // Both unlock together; the unknown name still fails as a wrong password.
    assert!(matches!(
        f.auth.login("nobody", PW, IP, None).await,
        Err(AuthError::BadCredentials)
    ));
    f.auth.login("anna", PW, IP, None).await.unwrap();
}

#[tokio::test]
async fn unknown_users_fail_like_wrong_passwords_and_count_per_address() {
    let f = fixture().await;
    let other = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7));
    for i in 0..IP_MAX_FAILURES {
        let e = f.auth.login(&format!("nobody{i}"), PW, other, None).await;
        assert!(matches!(e, Err(AuthError::BadCredentials)), "{e:?}");
    }
    let e = f.auth.login("anna", PW, other, None).await;
    assert!(matches!(e, Err(AuthError::RateLimited { .. })), "{e:?}");
    // Another address still gets in.
    f.auth.login("anna", PW, IP, None).await.unwrap();
    f.clock.advance(IP_WINDOW);
    f.auth.login("anna", PW, other, None).await.unwrap();
}

#[tokio::test]
async fn reauth_opens_a_five_minute_window() {
    let f = fixture().await;
    let s = f.auth.login("root", PW, IP, None).await.unwrap();
    assert!(!s.info.recently_reauthenticated(f.clock.now()));
    assert!(matches!(
        f.auth.reauth(&s.info, "not the password", IP).await,
        Err(AuthError::BadCredentials)
    ));
    f.auth.reauth(&s.info, PW, IP).await.unwrap();
    let live = f.auth.session(&s.id).await.unwrap().unwrap();
    assert!(live.recently_reauthenticated(f.clock.now()));
    f.clock.advance(REAUTH_WINDOW);
    let live = f.auth.session(&s.id).await.unwrap().unwrap();
    assert!(!live.recently_reauthenticated(f.clock.now()));
}

#[tokio::test]
async fn a_new_password_ends_the_other_sessions() {
    let f = fixture().await;
    let mine = f.auth.login("anna", PW, IP, None).await.unwrap();
    let other = f.auth.login("anna", PW, IP, None).await.unwrap();
    f.auth
        .update_account(
            "anna",
            Some("another long password"),
            None,
            Some(&mine.info.id_hash),
        )
        .await
        .unwrap();
    assert!(f.auth.session(&mine.id).await.unwrap().is_some());
    assert!(f.auth.session(&other.id).await.unwrap().is_none());
    assert!(f.auth.login("anna", PW, IP, None).await.is_err());
    f.auth
        .login("anna", "another long password", IP, None)
        .await
        .unwrap();
}

#[tokio::test]
async fn account_rules_hold() {
    let f = fixture().await;
    assert!(matches!(
        f.auth.create_account("bob", "short", Role::Desk).await,
        Err(AuthError::WeakPassword)
    ));
    assert!(matches!(
        f.auth.create_account("Bob Smith", PW, Role::Desk).await,
        Err(AuthError::Invalid(_))
    ));
    assert!(matches!(
        f.auth.create_account("anna", PW, Role::Desk).await,
        Err(AuthError::AccountExists(_))
    ));
    assert!(matches!(
        f.auth.delete_account("root", "anna").await,
        Err(AuthError::LastAdmin)
    ));
    assert!(matches!(
        f.auth
            .update_account("root", None, Some(Role::Desk), None)
            .await,
        Err(AuthError::LastAdmin)
    ));
    assert!(matches!(
        f.auth.delete_account("root", "root").await,
        Err(AuthError::SelfDelete)
    ));
    f.auth
        .update_account("anna", None, Some(Role::Admin), None)
        .await
        .unwrap();
    f.auth.delete_account("root", "anna").await.unwrap();
    assert_eq!(f.auth.accounts().await.unwrap().len(), 1);
}

#[tokio::test]
async fn api_tokens_are_stored_hashed_and_carry_their_scope() {
    let f = fixture().await;
    let t = f.auth.create_token("fallakte", Scope::Feed).await.unwrap();
    assert!(t.starts_with("lotse_"));
    let (p, scope) = f.auth.token(&t).await.unwrap().unwrap();
    assert_eq!(p.username, "token:fallakte");
    assert_eq!(scope, Scope::Feed);
    assert!(f.auth.token("lotse_wrong").await.unwrap().is_none());
    let (_, scope) = f
        .auth
        .token("config-feed-token-0123")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(scope, Scope::Feed);
    assert!(matches!(
        f.auth.create_token("fallakte", Scope::Monitoring).await,
        Err(AuthError::TokenExists(_))
    ));
    let listed = f.auth.tokens().await.unwrap();
    assert_eq!(listed.len(), 1);
    f.auth.delete_token("fallakte").await.unwrap();
    assert!(f.auth.token(&t).await.unwrap().is_none());
}

#[tokio::test]
async fn a_provisioned_admin_hash_becomes_the_admin_only_while_there_is_none() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 3, 2, 8, 0, 0).unwrap(),
    ));
    let db = Db::open(&dir.path().join("lotse.db"), clock.clone(), |_| {}).unwrap();
    let auth = Auth::new(db, clock, None);
    let phc = password::hash("provisioned password 1").unwrap();
    assert!(auth.adopt_admin_hash("not a hash").await.is_err());
    assert!(auth.adopt_admin_hash(&phc).await.unwrap());
    auth.login("admin", "provisioned password 1", IP, None)
        .await
        .unwrap();
    // A second boot with the same file changes nothing.
    assert!(!auth.adopt_admin_hash(&phc).await.unwrap());
}
