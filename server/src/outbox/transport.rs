//! How a signed event reaches the endpoint: the [`OutboxTransport`] trait (so the
//! worker can be tested with a fake and virtual time) and [`HttpTransport`], the
//! reqwest implementation with optional mutual TLS and a pinned CA.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;

use super::OutboxError;
use super::settings::CaseSystemSettings;

/// One POST of one event.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The event id, also the `webhook-id` header.
    pub id: String,
    /// Seconds since the epoch, the `webhook-timestamp` header.
    pub timestamp: i64,
    /// The `webhook-signature` header.
    pub signature: String,
    pub body: String,
}

/// `Retry-After` as sent: a number of seconds or a date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryAfter {
    Seconds(u64),
    At(DateTime<Utc>),
}

impl RetryAfter {
    /// Parses the header value (RFC 9110: delay-seconds or an HTTP date).
    pub fn parse(v: &str) -> Option<RetryAfter> {
        let v = v.trim();
        if let Ok(n) = v.parse::<u64>() {
            return Some(RetryAfter::Seconds(n));
        }
        DateTime::parse_from_rfc2822(v)
            .ok()
            .map(|d| RetryAfter::At(d.with_timezone(&Utc)))
    }
}

/// What became of one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A 2xx answer.
    Delivered { status: u16 },
    /// Any other answer.
    Rejected {
        status: u16,
        retry_after: Option<RetryAfter>,
        detail: String,
    },
    /// No answer: refused, reset, timed out, TLS failure.
    Failed { error: String },
}

/// Sends one delivery; implementations never panic and never retry themselves.
pub trait OutboxTransport: Send + Sync + std::fmt::Debug + 'static {
    fn send(&self, delivery: Delivery) -> Pin<Box<dyn Future<Output = Outcome> + Send + '_>>;
}

/// POSTs to the configured URL with reqwest (rustls).
#[derive(Debug, Clone)]
pub struct HttpTransport {
    client: reqwest::Client,
    url: reqwest::Url,
}

/// How much of an error answer is kept for the log and `/healthz`.
const DETAIL_CHARS: usize = 200;

impl HttpTransport {
    pub fn new(s: &CaseSystemSettings) -> Result<Self, OutboxError> {
        let url = s
            .url
            .as_deref()
            .ok_or_else(|| OutboxError::Invalid("no case_system.url".into()))?;
        let url = reqwest::Url::parse(url).map_err(|e| OutboxError::Invalid(e.to_string()))?;
        let mut b = reqwest::Client::builder()
            .use_rustls_tls()
            .timeout(s.timeout)
            .connect_timeout(s.timeout.min(Duration::from_secs(5)))
            .redirect(reqwest::redirect::Policy::none())
            .pool_idle_timeout(Duration::from_secs(30))
            .user_agent(concat!("lotse/", env!("CARGO_PKG_VERSION")));
        if let Some(id) = &s.client_identity {
            let identity = reqwest::Identity::from_pem(id.expose())
                .map_err(|e| OutboxError::Client(format!("client certificate: {e}")))?;
            b = b.identity(identity);
        }
        if let Some(pem) = &s.ca_pem {
            b = b.tls_built_in_root_certs(false);
            for c in reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| OutboxError::Client(format!("CA: {e}")))?
            {
                b = b.add_root_certificate(c);
            }
        }
        let client = b
            .build()
            .map_err(|e| OutboxError::Client(error_chain(&e)))?;
        Ok(Self { client, url })
    }
}

/// An error with its causes, e.g. "error sending request: connection refused".
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        cur = c.source();
    }
    s
}

fn shorten(s: &str) -> String {
    let mut out: String = s.chars().take(DETAIL_CHARS).collect();
    if s.chars().count() > DETAIL_CHARS {
        out.push('…');
    }
    out
}

impl OutboxTransport for HttpTransport {
    fn send(&self, d: Delivery) -> Pin<Box<dyn Future<Output = Outcome> + Send + '_>> {
        Box::pin(async move {
            let sent = self
                .client
                .post(self.url.clone())
                .header("content-type", "application/json")
                .header("webhook-id", &d.id)
                .header("webhook-timestamp", d.timestamp.to_string())
                .header("webhook-signature", &d.signature)
                .body(d.body)
                .send()
                .await;
            let resp = match sent {
                Ok(r) => r,
                Err(e) => {
                    let kind = if e.is_timeout() { "timed out: " } else { "" };
                    return Outcome::Failed {
                        error: shorten(&format!("{kind}{}", error_chain(&e))),
                    };
                }
            };
            let status = resp.status().as_u16();
            let retry_after = resp
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(RetryAfter::parse);
            // Read (a bounded part of) the body so the connection can be reused.
            let mut body = Vec::new();
            let mut stream = resp.bytes_stream();
            while let Some(chunk) = stream.next().await {
                match chunk {
                    Ok(c) if body.len() < 64 * 1024 => body.extend_from_slice(&c),
                    Ok(_) => {}
                    Err(e) if (200..300).contains(&status) => {
                        tracing::debug!("case system: reading the answer failed: {e}");
                        break;
                    }
                    Err(e) => {
                        return Outcome::Failed {
                            error: shorten(&format!("HTTP {status}, then {}", error_chain(&e))),
                        };
                    }
                }
            }
            if (200..300).contains(&status) {
                Outcome::Delivered { status }
            } else {
                let text = String::from_utf8_lossy(&body);
                let text = text.trim();
                Outcome::Rejected {
                    status,
                    retry_after,
                    detail: if text.is_empty() {
                        format!("HTTP {status}")
                    } else {
                        shorten(&format!("HTTP {status}: {text}"))
                    },
                }
            }
        })
    }
}
