//! The calls endpoint: `POST /v1/realtime/calls` sends the SDP offer and answers with
//! the SDP answer and the call id; `POST /v1/realtime/calls/{call_id}/hangup` ends it.

use std::time::Duration;

use super::super::api_key::{ApiKey, AuthScheme};
use super::sdp::{call_id_of, normalise_answer};
use crate::Error;
use crate::realtime::Session;

/// What the endpoint answered: the normalised SDP answer and the call id.
pub(crate) struct Answer {
    pub(crate) sdp: String,
    pub(crate) call_id: String,
}

/// How a request reaches the API.
pub(crate) struct Endpoint {
    pub(crate) base_url: String,
    pub(crate) key: ApiKey,
    pub(crate) auth: AuthScheme,
    pub(crate) timeout: Duration,
    pub(crate) client: reqwest::Client,
}

impl Endpoint {
    fn post(&self, url: &str) -> reqwest::RequestBuilder {
        let request = self.client.post(url).timeout(self.timeout);
        match self.auth {
            AuthScheme::Bearer => request.bearer_auth(self.key.expose_secret()),
            AuthScheme::ApiKeyHeader => request.header("api-key", self.key.expose_secret()),
        }
    }

    /// Sends `offer`. With a `session`, as `multipart/form-data` (parts `sdp` and
    /// `session`, for a standard key); without, as `application/sdp` (an ephemeral key
    /// carries its session).
    pub(crate) async fn create_call(
        &self,
        offer: &str,
        session: Option<&Session>,
    ) -> Result<Answer, Error> {
        let url = format!("{}/realtime/calls", self.base_url.trim_end_matches('/'));
        let request = match session {
            None => self
                .post(&url)
                .header("content-type", "application/sdp")
                .body(offer.to_owned()),
            Some(session) => {
                let session = serde_json::to_string(session).map_err(|e| Error::Serialize {
                    event_type: "session".into(),
                    message: e.to_string(),
                })?;
                let boundary = format!("vivavoce-{:016x}", fastrand::u64(..));
                self.post(&url)
                    .header(
                        "content-type",
                        format!("multipart/form-data; boundary={boundary}"),
                    )
                    .body(multipart(&boundary, offer, &session))
            }
        };
        let response = request
            .send()
            .await
            .map_err(|e| self.request_error(e, &url))?;
        let status = response.status();
        let headers = response.headers().clone();
        let text = response
            .text()
            .await
            .map_err(|e| self.request_error(e, &url))?;
        if !status.is_success() {
            // A JSON error (`invalid_offer`, `invalid_api_key`…), never SDP.
            return Err(Error::http_status(
                status.as_u16(),
                url,
                super::super::handshake::redact(text, &self.key),
                Some(&headers),
            ));
        }
        let location = headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let Some(call_id) = call_id_of(location) else {
            return Err(Error::InvalidResponse {
                url,
                message: format!("no call id in the `Location` header (`{location}`)"),
            });
        };
        if !text.trim_start().starts_with("v=0") {
            return Err(Error::InvalidResponse {
                url,
                message: format!(
                    "the answer is not SDP (it starts `{}`)",
                    text.chars().take(40).collect::<String>()
                ),
            });
        }
        Ok(Answer {
            sdp: normalise_answer(&text),
            call_id,
        })
    }

    /// Ends the call on the API's side.
    pub(crate) async fn hangup(&self, call_id: &str) -> Result<(), Error> {
        let url = format!(
            "{}/realtime/calls/{call_id}/hangup",
            self.base_url.trim_end_matches('/')
        );
        let response = self
            .post(&url)
            .send()
            .await
            .map_err(|e| self.request_error(e, &url))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let headers = response.headers().clone();
        let text = response.text().await.unwrap_or_default();
        Err(Error::http_status(
            status.as_u16(),
            url,
            super::super::handshake::redact(text, &self.key),
            Some(&headers),
        ))
    }

    fn request_error(&self, e: reqwest::Error, url: &str) -> Error {
        if e.is_timeout() {
            Error::Timeout {
                operation: "calls request",
                after: self.timeout,
            }
        } else {
            Error::Connect {
                url: url.to_owned(),
                source: std::sync::Arc::new(e.without_url()),
            }
        }
    }
}

/// A `multipart/form-data` body with the parts `sdp` and `session`.
fn multipart(boundary: &str, sdp: &str, session: &str) -> String {
    format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"sdp\"\r\nContent-Type: application/sdp\r\n\r\n{sdp}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"session\"\r\nContent-Type: application/json\r\n\r\n{session}\r\n\
         --{boundary}--\r\n"
    )
}

/// The parts of a `multipart/form-data` body, by name (for the simulator).
#[cfg(feature = "mock")]
pub(crate) fn form_parts(content_type: &str, body: &str) -> Vec<(String, String)> {
    let Some(boundary) = content_type
        .split(';')
        .map(str::trim)
        .find_map(|p| p.strip_prefix("boundary="))
    else {
        return Vec::new();
    };
    let boundary = boundary.trim_matches('"');
    let delimiter = format!("--{boundary}");
    body.split(delimiter.as_str())
        .filter_map(|part| {
            let part = part.strip_prefix("\r\n")?;
            let (head, value) = part.split_once("\r\n\r\n")?;
            let name = head
                .split(';')
                .map(str::trim)
                .find_map(|p| p.strip_prefix("name="))?
                .lines()
                .next()?
                .trim_matches('"')
                .to_owned();
            Some((name, value.strip_suffix("\r\n").unwrap_or(value).to_owned()))
        })
        .collect()
}

#[cfg(all(test, feature = "mock"))]
mod tests {
    use super::*;

    #[test]
    fn a_form_reads_back_part_by_part() {
        let body = multipart("b0", "v=0\r\nm=audio 9 X 111\r\n", "{\"model\":\"m\"}");
        let parts = form_parts("multipart/form-data; boundary=b0", &body);
        assert_eq!(
            parts,
            [
                ("sdp".to_owned(), "v=0\r\nm=audio 9 X 111\r\n".to_owned()),
                ("session".to_owned(), "{\"model\":\"m\"}".to_owned()),
            ]
        );
        assert!(form_parts("multipart/form-data", &body).is_empty());
    }
}
