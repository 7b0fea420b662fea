//! How answers go on the wire: the `RequestId`, the error body of alibaba-api.md §3.1, JSON or (V1
//! with `Format=XML`) Alibaba's XML form, and the dropped connection of a fault.

use std::io;

use axum::body::Body;
use axum::response::{IntoResponse as _, Response};
use http::{HeaderMap, HeaderValue, StatusCode};
use serde_json::{Value, json};

use super::listen::ConnHandle;
use crate::api::{ApiError, Product};

/// What the pipeline decided for one request.
pub(super) enum Outcome {
    /// The action's answer and the action name (the XML root is `<Action>Response`).
    Ok(Value, String),
    /// An error answer, the product it came from (for `HostId`) and extra headers.
    Error(ApiError, Option<Product>, HeaderMap),
    /// Close the connection without an answer.
    Drop,
}

/// The response for `outcome`, in XML when the request asked for it; every answer gets a new
/// `RequestId` (body and `x-acs-request-id`).
pub(super) fn respond(outcome: Outcome, xml: bool, conn: Option<&ConnHandle>) -> Response {
    let id = request_id();
    match outcome {
        Outcome::Ok(mut body, action) => {
            if let Some(obj) = body.as_object_mut() {
                obj.insert("RequestId".into(), Value::String(id.clone()));
            }
            render(StatusCode::OK, &body, &format!("{action}Response"), xml, &id)
        }
        Outcome::Error(e, product, headers) => {
            tracing::debug!(code = %e.code, status = e.status, "api error");
            let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
            let mut resp = render(status, &error_body(&e, product, &id), "Error", xml, &id);
            resp.headers_mut().extend(headers);
            resp
        }
        Outcome::Drop => drop_response(conn),
    }
}

/// A new request ID: an upper-case UUID, like the real service's.
#[must_use]
pub fn request_id() -> String {
    uuid::Uuid::new_v4().to_string().to_ascii_uppercase()
}

/// The error body of §3.1 (`RequestId`, `HostId`, `Code`, `Message`, `Recommend`,
/// `AccessDeniedDetail` for permission errors).
#[must_use]
pub fn error_body(e: &ApiError, product: Option<Product>, request_id: &str) -> Value {
    let mut v = json!({
        "RequestId": request_id,
        "HostId": product.map_or("aliyuncs.com", Product::host),
        "Code": e.code,
        "Message": e.message,
        "Recommend": format!("https://error-center.aliyun.com/status/search?Keyword={}&source=PopGw", e.code),
    });
    if let (Some(d), Some(obj)) = (&e.access_denied_detail, v.as_object_mut()) {
        obj.insert("AccessDeniedDetail".into(), d.clone());
    }
    v
}

/// `Content-Type` of JSON answers.
const JSON_CT: &str = "application/json;charset=utf-8";
/// `Content-Type` of XML answers.
const XML_CT: &str = "text/xml;charset=utf-8";

/// One answer with its content type and request ID header.
fn render(status: StatusCode, body: &Value, root: &str, xml: bool, request_id: &str) -> Response {
    let (ct, text) = if xml {
        let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
        xml_element(&mut s, root, body);
        (XML_CT, s)
    } else {
        (JSON_CT, body.to_string())
    };
    let mut resp = (status, text).into_response();
    resp.headers_mut()
        .insert(http::header::CONTENT_TYPE, HeaderValue::from_static(ct));
    if let Ok(v) = HeaderValue::from_str(request_id) {
        resp.headers_mut().insert("x-acs-request-id", v);
    }
    resp
}

/// JSON to Alibaba's XML form: objects become nested elements, arrays repeat their element name.
fn xml_element(out: &mut String, name: &str, v: &Value) {
    match v {
        Value::Array(items) => {
            for i in items {
                xml_element(out, name, i);
            }
        }
        Value::Object(m) => {
            out.push('<');
            out.push_str(name);
            out.push('>');
            for (k, child) in m {
                xml_element(out, k, child);
            }
            out.push_str("</");
            out.push_str(name);
            out.push('>');
        }
        Value::Null => {
            out.push('<');
            out.push_str(name);
            out.push_str("/>");
        }
        Value::String(s) => xml_leaf(out, name, s),
        other => xml_leaf(out, name, &other.to_string()),
    }
}

/// A text element, with the XML special characters escaped.
fn xml_leaf(out: &mut String, name: &str, text: &str) {
    out.push('<');
    out.push_str(name);
    out.push('>');
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

/// Closes the connection without an answer: marks the connection so its next write fails (hyper then
/// closes it before any byte of the response); without connection info, a body that errors aborts it.
fn drop_response(conn: Option<&ConnHandle>) -> Response {
    if let Some(c) = conn {
        c.kill();
    }
    let stream = futures::stream::once(async {
        Err::<bytes::Bytes, io::Error>(io::Error::new(io::ErrorKind::ConnectionAborted, "fault: dropped"))
    });
    Response::new(Body::from_stream(stream))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_rendering_repeats_list_items() {
        let mut s = String::new();
        xml_element(
            &mut s,
            "ListUsersResponse",
            &json!({"Users": {"User": [{"UserName": "a&b"}, {"UserName": "c"}]}, "IsTruncated": false}),
        );
        assert_eq!(
            s,
            "<ListUsersResponse><IsTruncated>false</IsTruncated><Users><User><UserName>a&amp;b</UserName></User><User><UserName>c</UserName></User></Users></ListUsersResponse>"
        );
    }
}
