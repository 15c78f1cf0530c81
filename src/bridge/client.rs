//! A client of another Roundware server's api/2 (the reference server, a central server, or
//! another roundwared box): sign-in, the bridge's session, JSON reads and media downloads.
//! Every answer is bounded: a JSON body to [`MAX_JSON_BYTES`], a media file to the caller's
//! limit, each request to a timeout. The token is sent only to the source's own origin, never
//! to a media URL on another host.
//!
//! Owns: talking HTTP to the source. May not touch: the store, media conversion.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::{Client, Method, StatusCode, Url};
use serde_json::{Value, json};

use super::BridgeError;
use crate::media::TempFile;

/// The largest JSON answer read (a page of 500 assets is about 1 MB).
pub(crate) const MAX_JSON_BYTES: usize = 32 * 1024 * 1024;

/// How long one request may take before it counts as failed.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// How the client signs in at the source.
#[derive(Debug, Clone)]
pub(crate) enum SignIn {
    /// `POST login/` with a user's name and password.
    User {
        /// The source's username.
        username: String,
        /// Its password.
        password: String,
    },
    /// `POST users/` as a device: an anonymous visitor's token (enough to read a project).
    Device(String),
}

/// A signed-in api/2 client.
#[derive(Debug, Clone)]
pub(crate) struct Api2 {
    http: Client,
    root: Url,
    token: String,
    /// The bridge's session in each project, made once per sign-in.
    sessions: Arc<Mutex<HashMap<i64, i64>>>,
}

impl Api2 {
    /// Checks `root` (an `http(s)://…/api/2/` URL) and signs in.
    ///
    /// # Errors
    /// [`BridgeError::Source`] for a bad URL, an unreachable source or a refused sign-in.
    pub(crate) async fn connect(root: &str, sign_in: &SignIn) -> Result<Self, BridgeError> {
        let root = parse_root(root)?;
        let http = Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("roundwared/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::limited(3))
            .build()
            .map_err(|e| BridgeError::Source(format!("cannot make an HTTP client: {e}")))?;
        let mut api = Self {
            http,
            root,
            token: String::new(),
            sessions: Arc::default(),
        };
        let answer = match sign_in {
            SignIn::User { username, password } => {
                api.send(
                    Method::POST,
                    "login/",
                    &[],
                    Some(&json!({ "username": username, "password": password })),
                )
                .await?
            }
            SignIn::Device(device_id) => {
                api.send(
                    Method::POST,
                    "users/",
                    &[],
                    Some(&json!({ "device_id": device_id, "client_type": "roundwared" })),
                )
                .await?
            }
        };
        api.token = answer
            .get("token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty() && t.len() <= 256)
            .ok_or_else(|| BridgeError::Source("the sign-in answer has no token".into()))?
            .to_owned();
        Ok(api)
    }

    /// The source's api/2 root, as the rows imported from it are recorded under.
    pub(crate) fn root(&self) -> &str {
        self.root.as_str()
    }

    /// The bridge's session in `project` (the reference server needs one to show a project
    /// and its UI groups), started at the first call; its id.
    ///
    /// # Errors
    /// [`BridgeError::Source`].
    pub(crate) async fn session(&self, project: i64) -> Result<i64, BridgeError> {
        if let Some(id) = self.sessions().get(&project) {
            return Ok(*id);
        }
        let answer = self
            .send(
                Method::POST,
                "sessions/",
                &[],
                Some(&json!({ "project_id": project, "client_system": "roundwared-bridge" })),
            )
            .await?;
        let id = answer
            .get("id")
            .and_then(Value::as_i64)
            .ok_or_else(|| BridgeError::Source("the session answer has no id".into()))?;
        self.sessions().insert(project, id);
        Ok(id)
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, HashMap<i64, i64>> {
        self.sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// `GET path?query`, as JSON.
    ///
    /// # Errors
    /// [`BridgeError::Source`] for a failed request, an error status or a body that is not
    /// JSON or too large; [`BridgeError::NotFound`] for a 404.
    pub(crate) async fn get(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<Value, BridgeError> {
        self.send(Method::GET, path, query, None).await
    }

    /// `GET path?query` expecting a list: a bare array, or a page's `results`.
    ///
    /// # Errors
    /// As [`Self::get`], and [`BridgeError::Source`] when the answer is not a list.
    pub(crate) async fn list(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<Vec<Value>, BridgeError> {
        match self.get(path, query).await? {
            Value::Array(items) => Ok(items),
            Value::Object(mut page) => match page.remove("results") {
                Some(Value::Array(items)) => Ok(items),
                _ => Err(BridgeError::Source(format!(
                    "{path}: the answer is not a list"
                ))),
            },
            _ => Err(BridgeError::Source(format!(
                "{path}: the answer is not a list"
            ))),
        }
    }

    /// Downloads the media at `reference` (an absolute URL, or one relative to the source, as
    /// the reference server writes them) into a temporary file in `dir`, refusing more than
    /// `max_bytes`.
    ///
    /// # Errors
    /// [`BridgeError::NotFound`] for a 404, [`BridgeError::Source`] for other failures and
    /// oversize files, [`BridgeError::Disk`].
    pub(crate) async fn download(
        &self,
        reference: &str,
        dir: &std::path::Path,
        max_bytes: u64,
    ) -> Result<TempFile, BridgeError> {
        let url = self
            .root
            .join(reference)
            .map_err(|e| BridgeError::Source(format!("media URL {reference:?}: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(BridgeError::Source(format!(
                "media URL {reference:?} is not http(s)"
            )));
        }
        let mut request = self.http.get(url.clone());
        if url.origin() == self.root.origin() {
            request = request.header("Authorization", format!("token {}", self.token));
        }
        let mut response = request
            .send()
            .await
            .map_err(|e| BridgeError::Source(format!("GET {url}: {e}")))?;
        check_status(&response, &url)?;
        if response.content_length().is_some_and(|n| n > max_bytes) {
            return Err(BridgeError::Source(format!(
                "GET {url}: the file is larger than {max_bytes} bytes"
            )));
        }
        let file = TempFile::create(dir).map_err(BridgeError::Disk)?;
        let mut written: u64 = 0;
        let mut out = std::io::BufWriter::new(file.file());
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| BridgeError::Source(format!("GET {url}: {e}")))?
        {
            written += chunk.len() as u64;
            if written > max_bytes {
                return Err(BridgeError::Source(format!(
                    "GET {url}: the file is larger than {max_bytes} bytes"
                )));
            }
            out.write_all(&chunk).map_err(BridgeError::Disk)?;
        }
        out.flush().map_err(BridgeError::Disk)?;
        drop(out);
        Ok(file)
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Value, BridgeError> {
        let url = self
            .root
            .join(path)
            .map_err(|e| BridgeError::Source(format!("{path}: {e}")))?;
        let mut request = self.http.request(method.clone(), url.clone()).query(query);
        if !self.token.is_empty() {
            request = request.header("Authorization", format!("token {}", self.token));
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let mut response = request
            .send()
            .await
            .map_err(|e| BridgeError::Source(format!("{method} {url}: {e}")))?;
        check_status(&response, &url)?;
        let mut bytes = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| BridgeError::Source(format!("{method} {url}: {e}")))?
        {
            if bytes.len() + chunk.len() > MAX_JSON_BYTES {
                return Err(BridgeError::Source(format!(
                    "{method} {url}: the answer is larger than {MAX_JSON_BYTES} bytes"
                )));
            }
            bytes.extend_from_slice(&chunk);
        }
        serde_json::from_slice(&bytes).map_err(|e| {
            BridgeError::Source(format!("{method} {url}: the answer is not JSON: {e}"))
        })
    }
}

/// Checks the source's root URL: http(s), with no credentials or query in it, ending in `/`.
fn parse_root(root: &str) -> Result<Url, BridgeError> {
    let with_slash = if root.ends_with('/') {
        root.to_owned()
    } else {
        format!("{root}/")
    };
    let url = Url::parse(&with_slash)
        .map_err(|e| BridgeError::Source(format!("{root:?} is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(BridgeError::Source(format!(
            "{root:?} is not an http(s) URL of a server's api/2, e.g. http://box.local:8888/api/2/"
        )));
    }
    if !url.username().is_empty() || url.password().is_some() || url.query().is_some() {
        return Err(BridgeError::Source(format!(
            "{root:?}: give the user with --username and a password file, not in the URL"
        )));
    }
    Ok(url)
}

fn check_status(response: &reqwest::Response, url: &Url) -> Result<(), BridgeError> {
    match response.status() {
        s if s.is_success() => Ok(()),
        StatusCode::NOT_FOUND => Err(BridgeError::NotFound(url.to_string())),
        s => Err(BridgeError::Status {
            url: url.to_string(),
            status: s.as_u16(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_url_must_be_http_without_credentials_and_gets_its_slash() {
        assert_eq!(
            parse_root("http://box.local:8888/api/2").unwrap().as_str(),
            "http://box.local:8888/api/2/"
        );
        assert!(parse_root("ftp://box/api/2/").is_err());
        assert!(parse_root("http://user:pw@box/api/2/").is_err());
        assert!(parse_root("not a url").is_err());
        let root = parse_root("https://rw.example.org/api/2/").unwrap();
        assert_eq!(
            root.join("/rwmedia/a.mp3").unwrap().as_str(),
            "https://rw.example.org/rwmedia/a.mp3"
        );
    }
}
