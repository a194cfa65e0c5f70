//! Sessions that end, staff page sessions of their own, the CSRF token bound to the session, and
//! the limits on login codes (per client address, overall, and the number ranges served).

use super::web::{Browser, meta_csrf};
use super::{Node, nodes, nodes_with};
use healthcode_server::usecases::notices;
use healthcode_store::Actor;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Asks for a login code from the test client, with extra headers.
async fn ask_code(
    node: &Node,
    phone: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, Value, Option<u64>) {
    let mut req = node
        .http
        .post(format!("{}/api/v1/auth/code", node.base))
        .json(&json!({ "phone": phone }));
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let retry = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    (status, resp.json().await.unwrap(), retry)
}

/// The session token a browser's cookie holds.
fn session_of(browser: &Browser) -> String {
    browser.cookie("hc_session").unwrap().to_owned()
}

/// Calls the API as a page's script does: the session cookie and the CSRF header.
async fn script_call(browser: &mut Browser, method: Method, path: &str, csrf: &str) -> StatusCode {
    let req = browser
        .http
        .request(method, format!("{}{path}", browser.base))
        .header("x-csrf-token", csrf);
    browser.send(req).await.status
}

#[tokio::test]
async fn logout_ends_the_session_as_bearer_and_as_cookie() {
    for node in nodes().await {
        let store = node.store_name();
        // The API: the bearer's session ends, and stays ended.
        let me = node.resident("13500135001").await;
        assert_eq!(node.get("/api/v1/me", &me).await.0, StatusCode::OK);
        let (status, _) = node.post("/api/v1/auth/logout", &me, json!({})).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{store}");
        assert_eq!(
            node.get("/api/v1/me", &me).await.0,
            StatusCode::UNAUTHORIZED,
            "{store}: ended"
        );
        let (status, body) = node.post("/api/v1/auth/logout", &me, json!({})).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("unauthorized"))
        );

        // An API token is not a session: logging out does not end it, and says so.
        let official = node.staff("health_official").await;
        let (status, body) = node.post("/api/v1/auth/logout", &official, json!({})).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("not_a_session"))
        );
        assert!(body["message_zh"].as_str().is_some_and(|m| !m.is_empty()));
        assert_eq!(node.get("/api/v1/me", &official).await.0, StatusCode::OK);

        // The pages' logout ends the session in the store: its token works nowhere after.
        let mut browser = Browser::new(&node);
        browser.log_in(&node, "13500135002").await;
        let token = session_of(&browser);
        assert_eq!(node.get("/api/v1/me", &token).await.0, StatusCode::OK);
        let out = browser.post("/logout", &[]).await;
        assert_eq!(out.status, StatusCode::SEE_OTHER);
        assert_eq!(
            node.get("/api/v1/me", &token).await.0,
            StatusCode::UNAUTHORIZED,
            "{store}: the bearer is dead"
        );
        let mut replay = Browser::new(&node);
        replay.plant("hc_session", &token);
        assert_eq!(
            replay.get("/me").await.location(),
            "/login",
            "and so is the cookie"
        );

        // A page's script logs out through the API with the cookie and its CSRF header.
        let mut browser = Browser::new(&node);
        browser.log_in(&node, "13500135003").await;
        let token = session_of(&browser);
        let csrf = browser.csrf().await;
        let status = script_call(&mut browser, Method::POST, "/api/v1/auth/logout", &csrf).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        assert_eq!(
            node.get("/api/v1/me", &token).await.0,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(browser.get("/me").await.location(), "/login");
        node.stop().await;
    }
}

#[tokio::test]
async fn staff_pages_get_a_session_of_their_own_which_ends_at_once() {
    for node in nodes_with(|c| c.login.staff_session_hours = 2).await {
        let store = node.store_name();
        let official = node.staff("health_official").await;
        let mut browser = Browser::new(&node);
        let signed = browser.sign_in(&official).await;
        assert_eq!(signed.location(), "/console");
        let cookie = signed.set_cookie("hc_session").unwrap();
        assert!(cookie.starts_with("hc_session=hw_"), "{cookie}");
        assert!(
            !cookie.contains(&official),
            "the cookie never holds the API token"
        );
        assert!(
            cookie.contains("Max-Age=7200") && cookie.contains("HttpOnly"),
            "{cookie}"
        );
        let session = session_of(&browser);
        assert_eq!(browser.get("/console").await.status, StatusCode::OK);
        // The session serves the pages' scripts; the API token goes on serving API clients.
        let csrf = browser.csrf().await;
        assert_eq!(
            script_call(&mut browser, Method::GET, "/api/v1/me", &csrf).await,
            StatusCode::OK
        );
        assert_eq!(node.get("/api/v1/me", &official).await.0, StatusCode::OK);

        // Logging out ends the page session, not the API token.
        let out = browser.post("/logout", &[]).await;
        assert_eq!(out.status, StatusCode::SEE_OTHER);
        let mut replay = Browser::new(&node);
        replay.plant("hc_session", &session);
        assert_eq!(
            replay.get("/console").await.location(),
            "/staff/login",
            "{store}"
        );
        assert_eq!(
            node.get("/api/v1/me", &session).await.0,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(node.get("/api/v1/me", &official).await.0, StatusCode::OK);

        // A cookie holding an API token (as older versions set) signs no one in.
        let mut old = Browser::new(&node);
        old.plant("hc_session", &official);
        assert_eq!(old.get("/console").await.location(), "/staff/login");

        // Revoking the account ends its sessions and its token at once, on the next request.
        let mut browser = Browser::new(&node);
        browser.sign_in(&official).await;
        assert_eq!(browser.get("/console").await.status, StatusCode::OK);
        assert_eq!(node.get("/api/v1/me", &official).await.0, StatusCode::OK);
        let account = node
            .state
            .store
            .account_by_token(&official)
            .await
            .unwrap()
            .unwrap();
        let admin = Actor::new("test", "admin", "left the service");
        node.state
            .store
            .revoke_account(&account.id, &admin, super::system_now())
            .await
            .unwrap();
        assert_eq!(
            node.get("/api/v1/me", &official).await.0,
            StatusCode::UNAUTHORIZED,
            "{store}: at once"
        );
        assert_eq!(
            browser.get("/console").await.location(),
            "/staff/login",
            "{store}: at once"
        );
        let again = browser.sign_in(&official).await;
        assert!(
            again.body.contains("令牌无效"),
            "a revoked token cannot sign in"
        );
        node.stop().await;
    }
}

#[tokio::test]
async fn the_csrf_token_is_bound_to_the_session() {
    for node in nodes().await {
        let mut alice = Browser::new(&node);
        let id = alice.enrolled(&node, "13500135004").await;
        let page = alice.get("/me").await;
        let bound = meta_csrf(&page.body).unwrap();
        let cookie = alice.cookie("hc_csrf").unwrap().to_owned();
        assert_ne!(bound, cookie, "signed in, the token is not the cookie's");
        assert!(
            page.body
                .contains(&format!("name=\"csrf\" value=\"{bound}\"")),
            "the forms carry it"
        );
        let mut bob = Browser::new(&node);
        bob.log_in(&node, "13500135005").await;
        assert_ne!(bob.csrf().await, bound, "each session has its own");

        // A form sent with the unbound cookie's value, or with a CSRF cookie planted by another
        // site together with the same value in the form, is refused.
        let declare = format!("/me/{id}/declare");
        for (planted, sent) in [
            (cookie.clone(), cookie.clone()),
            ("0".repeat(64), "0".repeat(64)),
        ] {
            alice.plant("hc_csrf", &planted);
            let req = alice
                .http
                .post(format!("{}{declare}", alice.base))
                .form(&[("temperature", "36.6"), ("csrf", sent.as_str())]);
            let forged = alice.send(req).await;
            assert_eq!(forged.status, StatusCode::FORBIDDEN, "{}", forged.body);
            assert!(forged.body.contains("<code>csrf</code>"));
        }
        // The same for the API through the cookie.
        let planted = "0".repeat(64);
        assert_eq!(
            script_call(&mut alice, Method::GET, "/api/v1/me", &planted).await,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            script_call(&mut alice, Method::GET, "/api/v1/me", &bound).await,
            StatusCode::OK
        );
        // The page's own form goes through.
        let declared = alice.post(&declare, &[("temperature", "36.6")]).await;
        assert_eq!(declared.status, StatusCode::SEE_OTHER, "{}", declared.body);

        // Signed out, forms fall back to the visitor's own cookie (double submit).
        alice.post("/logout", &[]).await;
        assert!(alice.cookie("hc_session").is_none());
        let sent = alice.post("/login/code", &[("phone", "13500135004")]).await;
        assert_eq!(sent.status, StatusCode::OK, "{}", sent.body);
        node.stop().await;
    }
}

#[tokio::test]
async fn code_requests_are_limited_per_client_address_and_overall() {
    let limited = |c: &mut healthcode_server::config::Config| {
        c.login.codes_per_address_per_hour = 2;
        c.login.codes_per_hour_overall = 3;
    };
    for node in nodes_with(limited).await {
        let store = node.store_name();
        assert_eq!(
            ask_code(&node, "13500000001", &[]).await.0,
            StatusCode::ACCEPTED
        );
        assert_eq!(
            ask_code(&node, "13500000002", &[]).await.0,
            StatusCode::ACCEPTED
        );
        // A third phone from the same address: refused, with when to try again.
        let (status, body, retry) = ask_code(&node, "13500000003", &[]).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (
                StatusCode::TOO_MANY_REQUESTS,
                Some("too_many_codes_from_address")
            ),
            "{store}"
        );
        assert!(
            body["message_zh"]
                .as_str()
                .is_some_and(|m| m.contains("验证码")),
            "{body}"
        );
        assert!(
            retry.is_some_and(|s| (3500..=3600).contains(&s)),
            "{retry:?}"
        );
        // A header naming another address counts for nothing unless a trusted proxy is set.
        let spoofed = ask_code(&node, "13500000003", &[("x-forwarded-for", "198.51.100.7")]).await;
        assert_eq!(spoofed.0, StatusCode::TOO_MANY_REQUESTS);
        notices::drain(&node.state, super::system_now())
            .await
            .unwrap();
        assert!(!node.gateway.has_code_for("13500000003"), "no SMS went out");
        node.stop().await;
    }

    let proxied = |c: &mut healthcode_server::config::Config| {
        limited(c);
        c.login.client_address_header = Some("X-Forwarded-For".into());
    };
    for node in nodes_with(proxied).await {
        let from = |ip: &'static str| [("x-forwarded-for", ip)];
        assert_eq!(
            ask_code(&node, "13500000001", &from("203.0.113.1")).await.0,
            StatusCode::ACCEPTED
        );
        assert_eq!(
            ask_code(&node, "13500000002", &from("203.0.113.1")).await.0,
            StatusCode::ACCEPTED
        );
        let (status, body, _) = ask_code(&node, "13500000003", &from("203.0.113.1")).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (
                StatusCode::TOO_MANY_REQUESTS,
                Some("too_many_codes_from_address")
            )
        );
        // The proxy appends the address it saw: the last one counts, not what the client wrote.
        let appended = from("203.0.113.1, 203.0.113.2");
        assert_eq!(
            ask_code(&node, "13500000003", &appended).await.0,
            StatusCode::ACCEPTED
        );
        // Three codes this hour on the whole store: the fourth waits, whoever asks.
        let (status, body, retry) = ask_code(&node, "13500000004", &from("203.0.113.3")).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (
                StatusCode::TOO_MANY_REQUESTS,
                Some("too_many_codes_overall")
            ),
            "{body}"
        );
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
        assert!(
            retry.is_some_and(|s| (3500..=3600).contains(&s)),
            "{retry:?}"
        );
        // The address is kept only as a keyed hash: its text is nowhere in the codes' rows.
        let hex = hex::encode(b"203.0.113.1");
        let literal = match node.store_name() {
            "postgres" => format!("'\\x{hex}'::bytea"),
            _ => format!("x'{hex}'"),
        };
        let raw =
            format!("UPDATE login_codes SET attempts = attempts WHERE client_index = {literal}");
        assert_eq!(node.state.store.execute_raw(&raw).await.unwrap(), 0);
        let kept = "UPDATE login_codes SET attempts = attempts WHERE client_index IS NOT NULL";
        assert_eq!(node.state.store.execute_raw(kept).await.unwrap(), 3);
        node.stop().await;
    }
}

#[tokio::test]
async fn login_codes_go_only_to_the_number_ranges_configured() {
    for node in nodes().await {
        // By default: mainland mobile numbers only.
        let (status, body, _) = ask_code(&node, "+447700900123", &[]).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("phone_not_accepted")),
            "{body}"
        );
        assert!(
            body["message_zh"]
                .as_str()
                .is_some_and(|m| m.contains("号段"))
        );
        assert_eq!(
            ask_code(&node, "13800138000", &[]).await.0,
            StatusCode::ACCEPTED
        );
        node.stop().await;
    }
    let ranges = |c: &mut healthcode_server::config::Config| {
        c.login.code_phone_prefixes = vec!["139".into(), "+852".into()];
    };
    for node in nodes_with(ranges).await {
        assert_eq!(
            ask_code(&node, "+85291234567", &[]).await.0,
            StatusCode::ACCEPTED
        );
        assert_eq!(
            ask_code(&node, "13912345678", &[]).await.0,
            StatusCode::ACCEPTED
        );
        for outside in ["13800138000", "+447700900123"] {
            let (status, body, _) = ask_code(&node, outside, &[]).await;
            assert_eq!(
                (status, body["code"].as_str()),
                (StatusCode::UNPROCESSABLE_ENTITY, Some("phone_not_accepted")),
                "{outside}"
            );
        }
        node.stop().await;
    }
}
