//! The S3-compatible client shared by the recording store ([`crate::recording_store`]) and
//! off-site backups ([`crate::backup::offsite`]): one way to build it from a
//! [`StoreConfig`], with its keys read from a credentials file or the environment and held
//! in memory that is wiped when dropped. Not what either keeps in the bucket.

use std::sync::Arc;
use std::time::Duration;

use object_store::aws::AmazonS3Builder;
use object_store::{BackoffConfig, ClientOptions, ObjectStore, RetryConfig};
use zeroize::Zeroizing;

use crate::config::StoreConfig;

/// The client for `store`'s bucket. `keys_from` (`[recordings] credentials_file`) says
/// where keys are given, for the message when there are none.
pub fn client(store: &StoreConfig, keys_from: &str) -> Result<Arc<dyn ObjectStore>, String> {
    let keys = credentials(store, keys_from)?;
    let http = store
        .endpoint
        .as_deref()
        .is_some_and(|e| e.starts_with("http://"));
    let mut builder = AmazonS3Builder::new()
        .with_bucket_name(&store.bucket)
        .with_region(&store.region)
        .with_access_key_id(keys.id.as_str())
        .with_secret_access_key(keys.secret.as_str())
        .with_client_options(
            ClientOptions::new()
                .with_allow_http(http)
                .with_connect_timeout(Duration::from_secs(5))
                .with_timeout(Duration::from_secs(60)),
        )
        // Few retries inside one call: callers retry with their own backoff, and a reader
        // waiting on an absent store hears so within seconds.
        .with_retry(RetryConfig {
            backoff: BackoffConfig::default(),
            max_retries: 2,
            retry_timeout: Duration::from_secs(10),
        });
    if let Some(endpoint) = &store.endpoint {
        builder = builder.with_endpoint(endpoint);
    }
    if let Some(token) = &keys.token {
        builder = builder.with_token(token.as_str());
    }
    let client = builder.build().map_err(|e| e.to_string())?;
    Ok(Arc::new(client))
}

/// A bucket's keys, wiped from memory when dropped.
struct Keys {
    id: Zeroizing<String>,
    secret: Zeroizing<String>,
    token: Option<Zeroizing<String>>,
}

/// From `credentials_file` (lines `aws_access_key_id = …`, `aws_secret_access_key = …`,
/// optionally `aws_session_token = …`; `[sections]` and `#` comments ignored), else from
/// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` (and `AWS_SESSION_TOKEN`).
fn credentials(store: &StoreConfig, keys_from: &str) -> Result<Keys, String> {
    let Some(file) = &store.credentials_file else {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        return match (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
            (Some(id), Some(secret)) => Ok(Keys {
                id: Zeroizing::new(id),
                secret: Zeroizing::new(secret),
                token: var("AWS_SESSION_TOKEN").map(Zeroizing::new),
            }),
            _ => Err(format!("no keys: set {keys_from}, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment")),
        };
    };
    let text = Zeroizing::new(
        std::fs::read_to_string(file)
            .map_err(|e| format!("cannot read credentials_file {}: {e}", file.display()))?,
    );
    parse_credentials(&text).map_err(|e| format!("credentials_file {}: {e}", file.display()))
}

fn parse_credentials(text: &str) -> Result<Keys, String> {
    let (mut id, mut secret, mut token) = (None, None, None);
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty()
            || line.starts_with('#')
            || line.starts_with(';')
            || line.starts_with('[')
        {
            continue;
        }
        let Some((name, value)) = line.split_once('=') else {
            continue;
        };
        let value = Some(Zeroizing::new(value.trim().to_string())).filter(|v| !v.is_empty());
        match name.trim() {
            "aws_access_key_id" => id = value,
            "aws_secret_access_key" => secret = value,
            "aws_session_token" => token = value,
            _ => {}
        }
    }
    match (id, secret) {
        (Some(id), Some(secret)) => Ok(Keys { id, secret, token }),
        _ => Err("expected lines aws_access_key_id = … and aws_secret_access_key = …".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_file_lines_are_read_and_incomplete_ones_refused() {
        let keys = parse_credentials(
            "# menwei's bucket\n[default]\naws_access_key_id = AKID\naws_secret_access_key=s3cr3t\n",
        )
        .unwrap();
        assert_eq!((keys.id.as_str(), keys.secret.as_str()), ("AKID", "s3cr3t"));
        assert!(keys.token.is_none());
        let e = parse_credentials("aws_access_key_id = AKID\n")
            .err()
            .unwrap();
        assert!(e.contains("aws_secret_access_key"), "{e}");
    }
}
