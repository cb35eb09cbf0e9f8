//! An HTTP response as the tests look at it.

use serde_json::Value;

/// A response's status, headers and JSON body.
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    pub async fn from(res: reqwest::Response) -> Self {
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let text = res.text().await.expect("body");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Self {
            status,
            headers,
            body,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts the SPEC's error body: exactly four keys, this status and code, and a message
    /// containing `needle`.
    pub fn assert_error(&self, status: u16, code: u64, needle: &str) {
        assert_eq!(self.status, status, "{}", self.body);
        assert_eq!(
            keys(&self.body),
            ["code", "message", "more_info", "status"],
            "{}",
            self.body
        );
        assert_eq!(self.body["code"], code, "{}", self.body);
        assert_eq!(self.body["status"], status, "{}", self.body);
        assert_eq!(
            self.body["more_info"],
            format!("https://www.twilio.com/docs/errors/{code}")
        );
        let msg = self.body["message"].as_str().expect("message");
        assert!(
            msg.contains(needle),
            "message {msg:?} should mention {needle:?}"
        );
    }
}

/// Keys of a JSON object, in order.
pub fn keys(v: &Value) -> Vec<&str> {
    v.as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect()
}
