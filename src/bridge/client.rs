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

/// How many times a request that creates nothing is sent when the source cannot be reached.
const TRIES: u64 = 3;

/// How much of a refusal's answer is kept to say why.
const MAX_DETAIL_BYTES: usize = 300;

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
        Self::signed_in(http, root, sign_in).await
    }

    /// The same source, signed in as the visitor `device_id` (`POST users/` answers the same
    /// user for the same device, so this may be repeated): what is pushed on a visitor's
    /// behalf is theirs at the source.
    ///
    /// # Errors
    /// As [`Self::connect`].
    pub(crate) async fn as_device(&self, device_id: &str) -> Result<Self, BridgeError> {
        Self::signed_in(
            self.http.clone(),
            self.root.clone(),
            &SignIn::Device(device_id.to_owned()),
        )
        .await
    }

    async fn signed_in(http: Client, root: Url, sign_in: &SignIn) -> Result<Self, BridgeError> {
        let mut api = Self {
            http,
            root,
            token: String::new(),
            sessions: Arc::default(),
        };
        // Signing in creates nothing twice (the same user, the same device's user), so a lost
        // answer is asked again.
        let (path, body) = match sign_in {
            SignIn::User { username, password } => (
                "login/",
                json!({ "username": username, "password": password }),
            ),
            SignIn::Device(device_id) => (
                "users/",
                json!({ "device_id": device_id, "client_type": "roundwared" }),
            ),
        };
        let answer = api.retried(Method::POST, path, &[], Some(&body)).await?;
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

    /// `GET path?query`, as JSON; a source that cannot be reached is asked again, [`TRIES`]
    /// times in all.
    ///
    /// # Errors
    /// [`BridgeError::Unreachable`] when it still cannot be, [`BridgeError::Status`] for an
    /// error status ([`BridgeError::NotFound`] for a 404), [`BridgeError::Source`] for a body
    /// that is not JSON or too large.
    pub(crate) async fn get(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<Value, BridgeError> {
        self.retried(Method::GET, path, query, None).await
    }

    /// `POST path` with a JSON body, sent once: the caller knows whether sending it again
    /// could create a second row ([`BridgeError::Unreachable`] says the outcome is unknown).
    ///
    /// # Errors
    /// As [`Self::get`].
    pub(crate) async fn post(&self, path: &str, body: &Value) -> Result<Value, BridgeError> {
        self.send(Method::POST, path, &[], Some(body)).await
    }

    /// `PATCH path` with a multipart form of `fields` and the file at `file` (streamed, not
    /// read into memory), sent once.
    ///
    /// # Errors
    /// As [`Self::post`]; [`BridgeError::Disk`] when the file cannot be read.
    pub(crate) async fn patch_with_file(
        &self,
        path: &str,
        fields: &[(&str, String)],
        file: &std::path::Path,
    ) -> Result<Value, BridgeError> {
        let url = self.url(path)?;
        let handle = tokio::fs::File::open(file)
            .await
            .map_err(BridgeError::Disk)?;
        let length = handle.metadata().await.map_err(BridgeError::Disk)?.len();
        let name = file
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("recording")
            .to_owned();
        let body = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::new(handle));
        let mut form = reqwest::multipart::Form::new();
        for (key, value) in fields {
            form = form.text((*key).to_owned(), value.clone());
        }
        form = form.part(
            "file",
            reqwest::multipart::Part::stream_with_length(body, length).file_name(name),
        );
        let request = self
            .http
            .patch(url.clone())
            .header("Authorization", format!("token {}", self.token))
            .multipart(form);
        self.answer(Method::PATCH, &url, request).await
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
    /// `max_bytes`. A source that cannot be reached is asked again, [`TRIES`] times in all.
    ///
    /// # Errors
    /// [`BridgeError::NotFound`] for a 404, [`BridgeError::Status`] for another error status,
    /// [`BridgeError::Unreachable`], [`BridgeError::Source`] for oversize files,
    /// [`BridgeError::Disk`].
    pub(crate) async fn download(
        &self,
        reference: &str,
        dir: &std::path::Path,
        max_bytes: u64,
    ) -> Result<TempFile, BridgeError> {
        again_when_unreachable(|| self.download_once(reference, dir, max_bytes)).await
    }

    async fn download_once(
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
        let response = request
            .send()
            .await
            .map_err(|e| BridgeError::Unreachable(format!("GET {url}: {e}")))?;
        let mut response = check_status(response, &url).await?;
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
            .map_err(|e| BridgeError::Unreachable(format!("GET {url}: {e}")))?
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

    /// [`Self::send`], asked again (up to [`TRIES`] times) when the source could not be
    /// reached: only for requests that create nothing when repeated.
    async fn retried(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Value, BridgeError> {
        again_when_unreachable(|| self.send(method.clone(), path, query, body)).await
    }

    fn url(&self, path: &str) -> Result<Url, BridgeError> {
        self.root
            .join(path)
            .map_err(|e| BridgeError::Source(format!("{path}: {e}")))
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Value, BridgeError> {
        let url = self.url(path)?;
        let mut request = self.http.request(method.clone(), url.clone()).query(query);
        if !self.token.is_empty() {
            request = request.header("Authorization", format!("token {}", self.token));
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        self.answer(method, &url, request).await
    }

    /// Sends `request` and reads its JSON answer, bounded.
    async fn answer(
        &self,
        method: Method,
        url: &Url,
        request: reqwest::RequestBuilder,
    ) -> Result<Value, BridgeError> {
        let response = request
            .send()
            .await
            .map_err(|e| BridgeError::Unreachable(format!("{method} {url}: {e}")))?;
        let mut response = check_status(response, url).await?;
        let mut bytes = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| BridgeError::Unreachable(format!("{method} {url}: {e}")))?
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

/// Runs `attempt` again (up to [`TRIES`] times in all, a little later each time) while the
/// source cannot be reached.
async fn again_when_unreachable<T, F, Fut>(mut attempt: F) -> Result<T, BridgeError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, BridgeError>>,
{
    let mut tried = 1;
    loop {
        match attempt().await {
            Err(BridgeError::Unreachable(_)) if tried < TRIES => {
                tokio::time::sleep(Duration::from_millis(250 * tried)).await;
                tried += 1;
            }
            other => return other,
        }
    }
}

/// The root URL `root` as the rows of its source are recorded under ([`Api2::root`]).
///
/// # Errors
/// As [`Api2::connect`] for a bad URL.
pub(crate) fn recorded_root(root: &str) -> Result<String, BridgeError> {
    parse_root(root).map(|u| u.to_string())
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

/// The response when it is a success; else the error, with the start of a 4xx answer (it
/// says what the source refused, for the console's dead letters).
async fn check_status(
    mut response: reqwest::Response,
    url: &Url,
) -> Result<reqwest::Response, BridgeError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    if status == StatusCode::NOT_FOUND {
        return Err(BridgeError::NotFound(url.to_string()));
    }
    let mut detail = String::new();
    if status.is_client_error() {
        let mut bytes = Vec::new();
        while bytes.len() < MAX_DETAIL_BYTES {
            match response.chunk().await {
                Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
                _ => break,
            }
        }
        bytes.truncate(MAX_DETAIL_BYTES);
        let text = String::from_utf8_lossy(&bytes);
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        if !text.is_empty() {
            detail = format!(": {text}");
        }
    }
    Err(BridgeError::Status {
        url: url.to_string(),
        status: status.as_u16(),
        detail,
    })
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
