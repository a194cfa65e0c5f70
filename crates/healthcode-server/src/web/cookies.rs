//! Cookies as the pages and the API read them: their names, reading one from the request, writing
//! a `Set-Cookie` value, and comparing secrets without a timing leak.

use axum::http::header::COOKIE;
use axum::http::{HeaderMap, HeaderValue};
use cookie::Cookie;
use subtle::ConstantTimeEq;

pub const SESSION_COOKIE: &str = "hc_session";
pub const CSRF_COOKIE: &str = "hc_csrf";
pub const LANG_COOKIE: &str = "hc_lang";
/// The header the pages' scripts carry the CSRF token in when they call the API.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The value of one cookie (the first of that name), if not empty.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .and_then(|c| c.value_raw())
        .filter(|v| !v.is_empty())
}

/// Equal without revealing, by timing, how much of a guess was right.
pub fn same(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// A `Set-Cookie` value: always `Path=/`, `HttpOnly` and `SameSite`; `Secure` when served over
/// TLS.
pub fn set_cookie(
    name: &str,
    value: &str,
    max_age: Option<i64>,
    same_site: &str,
    secure: bool,
) -> HeaderValue {
    let mut c = format!("{name}={value}; Path=/; HttpOnly; SameSite={same_site}");
    if let Some(age) = max_age {
        c.push_str(&format!("; Max-Age={age}"));
    }
    if secure {
        c.push_str("; Secure");
    }
    HeaderValue::from_str(&c).unwrap_or_else(|_| HeaderValue::from_static(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cookie_is_the_first_of_its_name_in_any_cookie_header() {
        let mut headers = HeaderMap::new();
        headers.append(
            COOKIE,
            HeaderValue::from_static("a=1; hc_lang=en ;hc_csrf="),
        );
        headers.append(
            COOKIE,
            HeaderValue::from_static("hc_session=hs_x; hc_lang=zh"),
        );
        assert_eq!(cookie(&headers, LANG_COOKIE), Some("en"));
        assert_eq!(cookie(&headers, SESSION_COOKIE), Some("hs_x"));
        assert_eq!(cookie(&headers, CSRF_COOKIE), None, "empty");
        assert_eq!(cookie(&headers, "b"), None);
    }

    #[test]
    fn same_compares_whole_strings() {
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd"));
        assert!(!same("abc", "ab"));
        assert!(!same("", "a"));
    }
}
