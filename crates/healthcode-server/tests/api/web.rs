//! The web pages over real HTTP: CSRF on every form, the cookies' flags, the phone login, the
//! code page's colour word, errors as pages, and the pages' scripts calling the API.

use super::scans::{gate, pass_issued_at};
use super::{Node, nodes};
use healthcode_server::usecases::notices;
use reqwest::header::{COOKIE, HeaderMap, LOCATION, SET_COOKIE};
use reqwest::{Client, StatusCode};
use serde_json::json;

/// A browser without a cookie jar of its own: it keeps the cookies it is given, by hand, and
/// does not follow redirects, so each answer can be looked at.
pub(crate) struct Browser {
    pub(crate) http: Client,
    pub(crate) base: String,
    cookies: Vec<(String, String)>,
    /// The CSRF token of the last page read (its `csrf-token` meta), with the session cookie it
    /// was read under.
    page_csrf: Option<(Option<String>, String)>,
}

pub(crate) struct Page {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: String,
}

/// The CSRF token a page carries for its scripts and forms.
pub(crate) fn meta_csrf(body: &str) -> Option<String> {
    let after = body.split("<meta name=\"csrf-token\" content=\"").nth(1)?;
    after.split('"').next().map(str::to_owned)
}

impl Page {
    pub(crate) fn location(&self) -> &str {
        self.headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    pub(crate) fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with(&format!("{name}=")))
            .map(str::to_owned)
    }
}

impl Browser {
    pub(crate) fn new(node: &Node) -> Browser {
        Browser {
            http: Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: node.base.clone(),
            cookies: Vec::new(),
            page_csrf: None,
        }
    }

    /// Sets a cookie by hand, as another site or an older version of the node might have.
    pub(crate) fn plant(&mut self, name: &str, value: &str) {
        self.cookies.retain(|(k, _)| k != name);
        self.cookies.push((name.to_owned(), value.to_owned()));
    }

    /// The CSRF token a form or script of the current session sends: the one its pages carry
    /// (reading a page first when none was read under this session, as a browser shows a page
    /// before its form is sent).
    pub(crate) async fn csrf(&mut self) -> String {
        let session = self.cookie("hc_session").map(str::to_owned);
        match &self.page_csrf {
            Some((read_under, token)) if *read_under == session => return token.clone(),
            _ => {}
        }
        if session.is_none() {
            return self.cookie("hc_csrf").unwrap_or_default().to_owned();
        }
        self.get("/").await;
        self.page_csrf.clone().map(|(_, t)| t).unwrap_or_default()
    }

    pub(crate) fn cookie(&self, name: &str) -> Option<&str> {
        self.cookies
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn keep(&mut self, headers: &HeaderMap) {
        for value in headers.get_all(SET_COOKIE) {
            let pair = value.to_str().unwrap().split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            self.cookies.retain(|(k, _)| k != name);
            if !value.is_empty() {
                self.cookies.push((name.to_owned(), value.to_owned()));
            }
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub(crate) async fn send(&mut self, req: reqwest::RequestBuilder) -> Page {
        let session = self.cookie("hc_session").map(str::to_owned);
        let resp = req
            .header(COOKIE, self.cookie_header())
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        self.keep(&headers);
        let body = resp.text().await.unwrap();
        if let Some(token) = meta_csrf(&body) {
            self.page_csrf = Some((session, token));
        }
        Page {
            status,
            headers,
            body,
        }
    }

    pub(crate) async fn get(&mut self, path: &str) -> Page {
        let req = self.http.get(format!("{}{path}", self.base));
        self.send(req).await
    }

    /// Posts a form with the page's CSRF token, as the page's own form does.
    pub(crate) async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let csrf = self.csrf().await;
        let mut form: Vec<(&str, &str)> = fields.to_vec();
        form.push(("csrf", &csrf));
        let req = self.http.post(format!("{}{path}", self.base)).form(&form);
        self.send(req).await
    }

    /// Logs in by phone through the pages, reading the code from the SMS delivered.
    pub(crate) async fn log_in(&mut self, node: &Node, phone: &str) -> Page {
        self.get("/login").await;
        let sent = self.post("/login/code", &[("phone", phone)]).await;
        assert_eq!(sent.status, StatusCode::OK, "{}", sent.body);
        let code = node.gateway.code_for(phone).await;
        self.post("/login", &[("phone", phone), ("code", &code)])
            .await
    }

    /// Logs in by `phone` and enrolls 张三丰 with a valid resident ID; returns the person's id.
    pub(crate) async fn enrolled(&mut self, node: &Node, phone: &str) -> String {
        self.log_in(node, phone).await;
        let me = self
            .post(
                "/me/enroll",
                &[
                    ("name", "张三丰"),
                    ("document_kind", "resident_id"),
                    ("document_number", "11010519491231002X"),
                    ("phone", phone),
                ],
            )
            .await;
        assert_eq!(me.status, StatusCode::SEE_OTHER, "{}", me.body);
        me.location().split('/').nth(2).unwrap().to_owned()
    }
}

#[tokio::test]
async fn every_form_needs_the_visitors_csrf_token() {
    for node in nodes().await {
        let mut browser = Browser::new(&node);
        let first = browser.get("/login").await;
        assert_eq!(first.status, StatusCode::OK);
        let csrf = first
            .set_cookie("hc_csrf")
            .expect("a first visit gets a CSRF cookie");
        assert!(
            csrf.contains("HttpOnly") && csrf.contains("SameSite=Strict"),
            "{csrf}"
        );
        let token = browser.cookie("hc_csrf").unwrap().to_owned();
        assert!(
            first.body.contains(&format!("value=\"{token}\"")),
            "the form carries the token"
        );

        // Without the token, and with another one: refused, as a page with the stable code.
        let url = format!("{}/login/code", browser.base);
        let none = browser
            .send(browser.http.post(&url).form(&[("phone", "13900000001")]))
            .await;
        assert_eq!(none.status, StatusCode::FORBIDDEN);
        assert!(none.body.contains("<code>csrf</code>"), "{}", none.body);
        // In the visitor's language (Chinese unless they chose English), not both at once.
        assert!(none.body.contains("表单已过期"), "{}", none.body);
        assert!(!none.body.contains("did not come from this site"));
        let forged = browser
            .send(
                browser
                    .http
                    .post(&url)
                    .form(&[("phone", "13900000001"), ("csrf", &"0".repeat(64))]),
            )
            .await;
        assert_eq!(forged.status, StatusCode::FORBIDDEN);
        notices::drain(&node.state, super::system_now())
            .await
            .unwrap();
        assert!(
            !node.gateway.has_code_for("13900000001"),
            "no code was sent"
        );

        // A browser that never had the cookie cannot post either, whatever it sends.
        let mut stranger = Browser::new(&node);
        let blind = stranger
            .post("/login/code", &[("phone", "13900000001")])
            .await;
        assert_eq!(blind.status, StatusCode::FORBIDDEN);

        let sent = browser
            .post("/login/code", &[("phone", "13900000001")])
            .await;
        assert_eq!(sent.status, StatusCode::OK);
        assert!(sent.body.contains("验证码已通过短信发送"), "{}", sent.body);
        node.stop().await;
    }
}

#[tokio::test]
async fn the_phone_login_sets_an_http_only_same_site_session_cookie() {
    for node in nodes().await {
        let mut browser = Browser::new(&node);
        assert_eq!(
            browser.get("/me").await.location(),
            "/login",
            "signed out: to the login"
        );
        let wrong = {
            browser.get("/login").await;
            browser
                .post("/login/code", &[("phone", "13900000002")])
                .await;
            browser
                .post("/login", &[("phone", "13900000002"), ("code", "000000")])
                .await
        };
        assert_eq!(
            wrong.status,
            StatusCode::OK,
            "a wrong code shows the form again"
        );
        assert!(wrong.body.contains("验证码错误") || wrong.body.contains("role=\"alert\""));
        assert!(wrong.set_cookie("hc_session").is_none());

        let mut browser = Browser::new(&node);
        let login = browser.log_in(&node, "13900000003").await;
        assert_eq!(login.status, StatusCode::SEE_OTHER);
        assert_eq!(login.location(), "/me");
        let cookie = login.set_cookie("hc_session").unwrap();
        assert!(cookie.starts_with("hc_session=hs_"), "{cookie}");
        assert!(
            cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
            "{cookie}"
        );
        assert!(!cookie.contains("Secure"), "plain HTTP: {cookie}");
        let me = browser.get("/me").await;
        assert_eq!(me.status, StatusCode::OK);
        assert!(
            me.body.contains("本人申领健康码"),
            "no one enrolled yet: the form"
        );

        // Behind a TLS proxy the cookies are Secure.
        let mut tls = Browser::new(&node);
        let page = tls
            .send(
                tls.http
                    .get(format!("{}/login", tls.base))
                    .header("x-forwarded-proto", "https"),
            )
            .await;
        assert!(page.set_cookie("hc_csrf").unwrap().contains("; Secure"));

        // Logging out clears the session.
        let out = browser.post("/logout", &[]).await;
        assert_eq!(out.status, StatusCode::SEE_OTHER);
        assert!(out.set_cookie("hc_session").unwrap().contains("Max-Age=0"));
        assert_eq!(browser.get("/me").await.location(), "/login");
        node.stop().await;
    }
}

#[tokio::test]
async fn the_code_page_shows_the_colour_as_a_word_and_follows_the_facts() {
    for node in nodes().await {
        let mut browser = Browser::new(&node);
        browser.log_in(&node, "13900000004").await;
        // A wrong check character: an error page with the stable code, in both languages.
        let bad = browser
            .post(
                "/me/enroll",
                &[
                    ("name", "张三丰"),
                    ("document_kind", "resident_id"),
                    ("document_number", "110105194912310021"),
                    ("phone", "13900000004"),
                ],
            )
            .await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            bad.body
                .contains("id=\"document_number-error\">证件号码校验位不正确"),
            "said next to the field: {}",
            bad.body
        );

        let enrolled = browser
            .post(
                "/me/enroll",
                &[
                    ("name", "张三丰"),
                    ("document_kind", "resident_id"),
                    ("document_number", "11010519491231002X"),
                    ("phone", "13900000004"),
                ],
            )
            .await;
        assert_eq!(enrolled.status, StatusCode::SEE_OTHER, "{}", enrolled.body);
        let code_path = enrolled.location().to_owned();
        let id = code_path.split('/').nth(2).unwrap().to_owned();
        let page = browser.get(&code_path).await;
        assert_eq!(page.status, StatusCode::OK);
        assert_eq!(page.headers["cache-control"], "no-store");
        assert!(page.body.contains("data-colour=\"green\"") && page.body.contains("绿码"));
        assert!(page.body.contains("张*丰") && page.body.contains("<svg"));
        assert!(
            page.body.contains("http-equiv=\"refresh\""),
            "the page renews the pass"
        );

        // A fever declared through the form: yellow, with the reason and what to do.
        let declared = browser
            .post(
                &format!("/me/{id}/declare"),
                &[("temperature", "38.4"), ("cough", "1")],
            )
            .await;
        assert_eq!(declared.status, StatusCode::SEE_OTHER, "{}", declared.body);
        let page = browser.get(&code_path).await;
        assert!(page.body.contains("data-colour=\"yellow\"") && page.body.contains("黄码"));
        assert!(
            page.body.contains(healthcode_pass::qr::TINTS[1]),
            "the QR in the code's colour"
        );
        let region = healthcode_core::region::name(&node.state.config.region).unwrap();
        assert!(
            page.body.contains(&format!("id=\"region\">{region}健康码")),
            "the region's name over the code: {}",
            page.body
        );
        assert!(page.body.contains("发热"), "the reason in plain words");
        let english = browser.get(&format!("{code_path}?lang=en")).await;
        assert!(
            english
                .set_cookie("hc_lang")
                .unwrap()
                .starts_with("hc_lang=en")
        );
        assert!(english.body.contains("lang=\"en\"") && english.body.contains("Yellow code"));
        assert!(
            browser
                .get(&format!("/me/{id}/why"))
                .await
                .body
                .contains("fever"),
            "kept"
        );

        // Someone else's record, or none: refused as a page.
        let other = browser.get("/me/p-nobody/code").await;
        assert_eq!(other.status, StatusCode::FORBIDDEN);
        assert!(other.body.contains("<code>forbidden</code>"));
        let garbage = browser
            .post(&format!("/me/{id}/declare"), &[("temperature", "hot")])
            .await;
        assert_eq!(garbage.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(garbage.body.contains("bad_temperature"));
        node.stop().await;
    }
}

#[tokio::test]
async fn page_scripts_reach_the_api_with_the_cookie_only_with_the_csrf_header() {
    for node in nodes().await {
        let manager = node.staff("venue_manager").await;
        let official = node.staff("health_official").await;
        let gate = gate(&node, &manager, "mall").await;
        let mut guard = Browser::new(&node);
        guard.get("/staff/login").await;
        let bad = guard
            .post("/staff/login", &[("token", "hc_not_a_token")])
            .await;
        assert_eq!(bad.status, StatusCode::OK);
        assert!(bad.body.contains("令牌无效"));
        let signed = guard.post("/staff/login", &[("token", &gate.token)]).await;
        assert_eq!(
            signed.location(),
            "/checkpoint",
            "a checkpoint goes to scanning"
        );
        let page = guard.get("/checkpoint").await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.body.contains("id=\"scan-input\"") && page.body.contains("mall "));

        let (_, person) = node
            .post(
                "/api/v1/people",
                &official,
                json!({"document_kind": "resident_id",
                "document_number": "11010519491231002X", "name": "张三丰"}),
            )
            .await;
        let text = pass_issued_at(&node, person["id"].as_str().unwrap(), super::system_now()).await;
        let scan = json!({"scan_id": "web-1", "text": text});
        let url = format!("{}/api/v1/scans", guard.base);
        // The cookie alone is not enough (another site could make the browser send it) …
        let alone = guard.send(guard.http.post(&url).json(&scan)).await;
        assert_eq!(alone.status, StatusCode::UNAUTHORIZED, "{}", alone.body);
        let forged = guard
            .send(
                guard
                    .http
                    .post(&url)
                    .header("x-csrf-token", "forged")
                    .json(&scan),
            )
            .await;
        assert_eq!(forged.status, StatusCode::UNAUTHORIZED);
        // … nor with the visitor's unbound CSRF cookie once signed in …
        let unbound = guard.cookie("hc_csrf").unwrap().to_owned();
        let planted = guard
            .send(
                guard
                    .http
                    .post(&url)
                    .header("x-csrf-token", unbound)
                    .json(&scan),
            )
            .await;
        assert_eq!(planted.status, StatusCode::UNAUTHORIZED);
        // … with the token of the page, bound to the session, it is the checkpoint scanning.
        let csrf = super::web::meta_csrf(&page.body).unwrap();
        let ok = guard
            .send(
                guard
                    .http
                    .post(&url)
                    .header("x-csrf-token", csrf)
                    .json(&scan),
            )
            .await;
        assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
        let answer: serde_json::Value = serde_json::from_str(&ok.body).unwrap();
        assert_eq!(answer["outcome"], "admit");
        assert_eq!(answer["masked_name"], "张*丰");

        // Assets are built in and cached; a resident's page is not the console.
        let css = guard.get("/assets/style-6.css").await;
        assert_eq!(css.status, StatusCode::OK);
        assert!(
            css.headers["cache-control"]
                .to_str()
                .unwrap()
                .contains("max-age")
        );
        assert_eq!(
            guard.get("/assets/nothing.js").await.status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(guard.get("/me").await.location(), "/login");
        node.stop().await;
    }
}

impl Browser {
    /// Signs a staff member in with their token, as the staff login page does.
    pub(crate) async fn sign_in(&mut self, token: &str) -> Page {
        self.get("/staff/login").await;
        self.post("/staff/login", &[("token", token)]).await
    }
}

#[tokio::test]
async fn each_role_gets_its_console_pages_and_no_others() {
    for node in nodes().await {
        let mut official = Browser::new(&node);
        assert_eq!(
            official
                .sign_in(&node.staff("health_official").await)
                .await
                .location(),
            "/console"
        );
        let home = official.get("/console").await;
        assert!(home.body.contains("/console/appeals") && home.body.contains("id=\"case\""));
        assert!(
            !home.body.contains("/console/audit"),
            "officials do not read the audit log"
        );
        let dashboard = official.get("/console/dashboard").await;
        assert_eq!(dashboard.status, StatusCode::OK);
        assert_eq!(dashboard.body.matches("<svg").count(), 5, "five charts");
        assert!(dashboard.body.contains("绿码") && dashboard.body.contains("密切接触者"));
        let refused = official.get("/console/audit").await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN);
        assert!(refused.body.contains("<code>forbidden</code>"));

        // The auditor reads the log, filtered, and the chain's state; the read is logged too.
        let mut auditor = Browser::new(&node);
        auditor.sign_in(&node.staff("auditor").await).await;
        let log = auditor.get("/console/audit?action=audit.log.read").await;
        assert_eq!(log.status, StatusCode::OK, "{}", log.body);
        assert!(log.body.contains("审计链完整"), "{}", log.body);
        assert!(
            log.body.contains("<td><code>audit.log.read</code></td>"),
            "its own read is on the log"
        );
        assert!(
            !log.body.contains("<td>account.create</td>"),
            "filtered by action"
        );
        assert_eq!(
            auditor.get("/console/audit?day=yesterday").await.status,
            StatusCode::BAD_REQUEST
        );

        // A checkpoint has no console pages; a resident is sent to the staff login.
        let manager = node.staff("venue_manager").await;
        let gate = gate(&node, &manager, "mall").await;
        let mut guard = Browser::new(&node);
        guard.sign_in(&gate.token).await;
        assert_eq!(
            guard.get("/console/dashboard").await.status,
            StatusCode::FORBIDDEN
        );
        let mut resident = Browser::new(&node);
        resident.log_in(&node, "13900000005").await;
        assert_eq!(resident.get("/console").await.location(), "/staff/login");

        // The policy is public and readable: rules in words, parameters filled in.
        let policy = Browser::new(&node).get("/policy").await;
        assert_eq!(policy.status, StatusCode::OK);
        assert!(policy.body.contains("close-contact") && policy.body.contains("红码"));
        assert!(!policy.body.contains("{param."), "parameters are filled in");
        node.stop().await;
    }
}

/// The time `hours` before now as a `datetime-local` field in China Standard Time.
fn local_hours_ago(hours: i64) -> String {
    let t = (super::system_now() - time::Duration::hours(hours))
        .checked_to_offset(time::macros::offset!(+8))
        .unwrap();
    t.format(time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]"
    ))
    .unwrap()
}

#[tokio::test]
async fn a_risk_area_proposed_on_the_console_waits_for_a_second_official() {
    for node in nodes().await {
        let mut first = Browser::new(&node);
        first.sign_in(&node.staff("health_official").await).await;
        let proposed = first
            .post(
                "/console/risk-areas",
                &[
                    ("name", "滨江区某小区"),
                    ("region", "330108"),
                    ("level", "high"),
                    ("starts_at", &local_hours_ago(48)),
                    ("legal_basis", "杭防控〔2020〕9号"),
                ],
            )
            .await;
        assert_eq!(proposed.status, StatusCode::SEE_OTHER, "{}", proposed.body);
        let page = first.get("/console/risk-areas").await;
        assert!(page.body.contains("待第二名官员审批"));
        let batch = page
            .body
            .split("/console/batches/")
            .nth(1)
            .unwrap()
            .split('/')
            .next()
            .unwrap()
            .to_owned();
        let own = first
            .post(&format!("/console/batches/{batch}/approve"), &[])
            .await;
        assert_eq!(
            own.status,
            StatusCode::CONFLICT,
            "the proposer cannot approve: {}",
            own.body
        );

        let mut second = Browser::new(&node);
        second.sign_in(&node.staff("health_official").await).await;
        let approved = second
            .post(&format!("/console/batches/{batch}/approve"), &[])
            .await;
        assert_eq!(approved.status, StatusCode::SEE_OTHER, "{}", approved.body);
        assert!(
            second
                .get("/console/risk-areas")
                .await
                .body
                .contains("已发布")
        );
        let (_, published) = node
            .call(reqwest::Method::GET, "/api/v1/risk-areas", None, None)
            .await;
        assert_eq!(published[0]["name"], "滨江区某小区");
        node.stop().await;
    }
}

#[tokio::test]
async fn a_batch_of_facts_waits_on_the_console_for_a_second_official() {
    for node in nodes().await {
        let official = node.staff("health_official").await;
        let mut resident = Browser::new(&node);
        let id = resident.enrolled(&node, "13900000009").await;
        // Above the threshold (50): the batch waits. Stays of yesterday, which colour today.
        let yesterday = (super::system_now() - time::Duration::days(1))
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap();
        let items: Vec<serde_json::Value> = (0..51)
            .map(|i| serde_json::json!({"person_id": id, "fact": {"id": format!("rs-{i}"), "type": "risk_stay",
                "level": "medium", "region": "420106", "arrived_at": yesterday}}))
            .collect();
        let (status, batch) = node
            .call(
                reqwest::Method::POST,
                "/api/v1/facts/batch",
                Some(&official),
                Some(serde_json::json!({"legal_basis": "Notice 2020-17", "items": items})),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{batch}");
        let batch = batch["id"].as_str().unwrap().to_owned();

        let mut second = Browser::new(&node);
        second.sign_in(&node.staff("health_official").await).await;
        let page = second.get("/console/risk-areas").await;
        assert!(
            page.body.contains(&batch) && page.body.contains("Notice 2020-17"),
            "the batch is listed with its legal basis: {}",
            page.body
        );
        let approved = second
            .post(&format!("/console/batches/{batch}/approve"), &[])
            .await;
        assert_eq!(approved.status, StatusCode::SEE_OTHER, "{}", approved.body);
        assert!(
            !second
                .get("/console/risk-areas")
                .await
                .body
                .contains(&batch)
        );
        let code = resident.get(&format!("/me/{id}/code")).await;
        assert!(
            code.body.contains("data-colour=\"yellow\""),
            "the stays are recorded and colour the resident"
        );
        node.stop().await;
    }
}

#[tokio::test]
async fn venues_are_registered_given_checkpoints_and_printed_from_the_console() {
    for node in nodes().await {
        let mut manager = Browser::new(&node);
        manager.sign_in(&node.staff("venue_manager").await).await;
        let bad = manager
            .post(
                "/console/venues",
                &[
                    ("name", "西湖银泰"),
                    ("address", "延安路"),
                    ("region", "3301"),
                    ("category", "mall"),
                ],
            )
            .await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(bad.body.contains("bad_region"));
        let made = manager
            .post(
                "/console/venues",
                &[
                    ("name", "西湖银泰"),
                    ("address", "延安路"),
                    ("region", "330102"),
                    ("category", "mall"),
                ],
            )
            .await;
        assert_eq!(made.status, StatusCode::SEE_OTHER, "{}", made.body);
        let list = manager.get("/console/venues").await;
        assert!(list.body.contains("西湖银泰"));
        let venue = list
            .body
            .split("/console/venues/")
            .nth(1)
            .unwrap()
            .split('/')
            .next()
            .unwrap()
            .to_owned();
        let added = manager
            .post(
                &format!("/console/venues/{venue}/checkpoints"),
                &[("name", "A 口")],
            )
            .await;
        assert_eq!(added.status, StatusCode::OK);
        let token = added
            .body
            .split("<code>hc_")
            .nth(1)
            .unwrap()
            .split('<')
            .next()
            .unwrap();
        // The token shown is the checkpoint's own: it signs in to scanning.
        let mut guard = Browser::new(&node);
        assert_eq!(
            guard.sign_in(&format!("hc_{token}")).await.location(),
            "/checkpoint"
        );
        assert!(guard.get("/checkpoint").await.body.contains("西湖银泰"));

        let print = manager.get(&format!("/console/venues/{venue}/print")).await;
        assert_eq!(print.status, StatusCode::OK);
        assert!(print.body.contains("<svg") && print.body.contains("西湖银泰"));
        assert!(
            !print.body.contains("<?xml"),
            "the SVG sits inside the HTML"
        );
        node.stop().await;
    }
}

#[tokio::test]
async fn a_child_waits_for_review_and_an_official_records_facts_from_the_console() {
    for node in nodes().await {
        let mut parent = Browser::new(&node);
        let parent_id = parent.enrolled(&node, "13900000006").await;
        let child = parent
            .post(
                "/me/enroll",
                &[
                    ("name", "张小明"),
                    ("document_kind", "none"),
                    ("guardian_id", &parent_id),
                    ("phone", "13900000006"),
                ],
            )
            .await;
        assert_eq!(child.status, StatusCode::SEE_OTHER, "{}", child.body);
        let child_code = child.location().to_owned();
        let child_id = child_code.split('/').nth(2).unwrap().to_owned();
        let page = parent.get(&child_code).await;
        assert!(page.body.contains("data-colour=\"pending\"") && page.body.contains("审核中"));
        assert!(
            !page.body.contains("绿码"),
            "a child under review is never shown green"
        );
        let overview = parent.get("/me").await;
        assert!(overview.body.contains("张*明") && overview.body.contains("被监护人"));

        // The official confirms the child, then records a positive test for the parent.
        let mut official = Browser::new(&node);
        official.sign_in(&node.staff("health_official").await).await;
        // The official finds the family by the parent's phone, and the parent by document,
        // saying why each time.
        let found = official
            .post(
                "/console/people/search",
                &[("phone", "13900000006"), ("purpose", "核实监护关系")],
            )
            .await;
        assert_eq!(found.status, StatusCode::OK, "{}", found.body);
        for id in [&parent_id, &child_id] {
            let link = format!("/console/people/{id}");
            assert!(found.body.contains(&link), "{}", found.body);
        }
        let by_document = official
            .post(
                "/console/people/search",
                &[
                    ("document_kind", "resident_id"),
                    ("document_number", "11010519491231002X"),
                    ("purpose", "核实身份"),
                ],
            )
            .await;
        let link = format!("/console/people/{parent_id}");
        assert!(by_document.body.contains(&link), "{}", by_document.body);
        assert!(!by_document.body.contains(&child_id));
        let unsaid = official
            .post(
                "/console/people/search",
                &[("phone", "13900000006"), ("purpose", "")],
            )
            .await;
        assert_eq!(unsaid.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(unsaid.body.contains("purpose_required"));
        let confirmed = official
            .post(&format!("/console/people/{child_id}/confirm"), &[])
            .await;
        assert_eq!(
            confirmed.status,
            StatusCode::SEE_OTHER,
            "{}",
            confirmed.body
        );
        assert!(
            parent
                .get(&child_code)
                .await
                .body
                .contains("data-colour=\"green\"")
        );
        // A fever declared on the resident's page, then two negative tests recorded on the
        // console: yellow, then green again.
        parent
            .post(
                &format!("/me/{parent_id}/declare"),
                &[("temperature", "38.6")],
            )
            .await;
        let record = official.get(&format!("/console/people/{parent_id}")).await;
        assert!(
            record.body.contains("data-colour=\"yellow\""),
            "{}",
            record.body
        );
        let no_basis = official
            .post(
                &format!("/console/people/{parent_id}/facts"),
                &[("kind", "test_negative"), ("sample_id", "S-1")],
            )
            .await;
        assert_eq!(no_basis.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(no_basis.body.contains("legal_basis_required"));
        for sample in ["S-1", "S-2"] {
            let tested = official
                .post(
                    &format!("/console/people/{parent_id}/facts"),
                    &[
                        ("kind", "test_negative"),
                        ("sample_id", sample),
                        ("sampled_at", ""),
                        ("legal_basis", "浙疾控检测〔2020〕5号"),
                    ],
                )
                .await;
            assert_eq!(tested.status, StatusCode::SEE_OTHER, "{}", tested.body);
        }
        let record = official.get(&format!("/console/people/{parent_id}")).await;
        assert!(
            record.body.contains("data-colour=\"green\""),
            "{}",
            record.body
        );
        assert!(
            parent
                .get(&format!("/me/{parent_id}/code"))
                .await
                .body
                .contains("绿码")
        );
        // The official's look is on the parent's record of who read their data.
        let who = parent.get(&format!("/me/{parent_id}/audit")).await;
        assert!(
            who.body.contains("卫生健康部门") && who.body.contains("查看了您的健康码状态"),
            "{}",
            who.body
        );
        // In Chinese, a sentence: no action codes, no English purposes, no bare ids.
        let listed = &who.body[who.body.find("<ul class=\"rows\">").unwrap()..];
        let listed = &listed[..listed.find("</ul>").unwrap()];
        for english in ["status.read", "colour", "policy", "resident:", "enrollment"] {
            assert!(!listed.contains(english), "{english} in {listed}");
        }
        let who = parent.get(&format!("/me/{parent_id}/audit?lang=en")).await;
        assert!(
            who.body.contains("read your code&#39;s status"),
            "{}",
            who.body
        );

        // A path nobody serves: a page for a browser, JSON for an API client.
        let page = parent
            .send(
                parent
                    .http
                    .get(format!("{}/nowhere", parent.base))
                    .header("accept", "text/html"),
            )
            .await;
        assert_eq!(page.status, StatusCode::NOT_FOUND);
        assert!(page.body.contains("<code>not_found</code>"));
        let json = parent.get("/nowhere").await;
        assert!(
            json.body.starts_with("{\"code\":\"not_found\""),
            "{}",
            json.body
        );
        // The language toggle on a page that answered a form asks for a page that exists.
        assert_eq!(parent.get("/login/code?lang=en").await.location(), "/login");
        node.stop().await;
    }
}

/// A hub official's console: a region's proposal with its node key's fingerprint to check by
/// phone, approved from the page (publishing a list), then one of its keys revoked.
#[tokio::test]
async fn a_hub_official_decides_proposals_and_revokes_keys_from_the_console() {
    use healthcode_pass::cose;
    use healthcode_pass::keys::{Algorithm, SigningKey};
    use healthcode_server::federation::{Registration, encode_key};
    for node in super::nodes_with(|c| {
        c.federation.role = healthcode_server::config::NodeRole::Hub;
    })
    .await
    {
        let store = node.store_name();
        let now = node.state.now();
        let node_key = SigningKey::generate(Algorithm::EdDSA).unwrap();
        let pass_key = SigningKey::generate(Algorithm::EdDSA).unwrap();
        let entry = healthcode_pass::trust::TrustListEntry::for_key(
            "420100",
            pass_key.verifying_key(),
            now - time::Duration::days(1),
            now + time::Duration::days(365),
        );
        let kid = entry.kid.clone();
        let registration = Registration {
            region: "420100".into(),
            name: "武汉市".into(),
            url: "http://127.0.0.1:9".into(),
            node_key: encode_key(node_key.verifying_key()),
            keys: vec![entry],
            signed_at: now,
        };
        let signed = cose::sign(serde_json::to_vec(&registration).unwrap(), &node_key).unwrap();
        let proposal = healthcode_server::federation::hub::propose(&node.state, &signed, now)
            .await
            .unwrap();

        let mut browser = Browser::new(&node);
        browser.sign_in(&node.staff("hub_official").await).await;
        let page = browser.get("/console/hub").await;
        assert_eq!(page.status, StatusCode::OK, "{store}");
        assert!(
            page.body.contains("武汉市") && page.body.contains("420100"),
            "{store}"
        );
        // The fingerprint: 16 hex digits in groups of four.
        assert!(page.body.contains("节点密钥指纹"), "{store}: {}", page.body);
        let decided = browser
            .post(
                &format!("/console/hub/proposals/{}", proposal.id),
                &[("decision", "approve"), ("reason", "指纹已电话核对")],
            )
            .await;
        assert_eq!(
            decided.status,
            StatusCode::SEE_OTHER,
            "{store}: {}",
            decided.body
        );
        assert_eq!(
            node.state.store.hub_regions().await.unwrap().len(),
            1,
            "{store}"
        );
        let page = browser.get("/console/hub").await;
        assert!(page.body.contains(&kid), "{store}: the key is listed");
        let revoked = browser
            .post(
                "/console/hub/revoke",
                &[("kid", kid.as_str()), ("reason", "密钥泄露")],
            )
            .await;
        assert_eq!(revoked.status, StatusCode::SEE_OTHER, "{store}");
        assert_eq!(node.state.store.hub_revocations().await.unwrap().len(), 1);
        // Another role gets no hub page.
        let mut other = Browser::new(&node);
        other.sign_in(&node.staff("health_official").await).await;
        assert_eq!(
            other.get("/console/hub").await.status,
            StatusCode::FORBIDDEN,
            "{store}"
        );
        node.stop().await;
    }
}

/// A resident moving away consents on the page and gets the code once; presenting a code from a
/// region this node does not know is refused on the page with its stable code.
#[tokio::test]
async fn a_resident_consents_to_move_their_status_from_the_pages() {
    for node in nodes().await {
        let store = node.store_name();
        let mut browser = Browser::new(&node);
        browser.log_in(&node, "13900000006").await;
        let enrolled = browser
            .post(
                "/me/enroll",
                &[
                    ("name", "李四"),
                    ("document_kind", "resident_id"),
                    ("document_number", "11010519491231002X"),
                    ("phone", "13900000006"),
                ],
            )
            .await;
        assert_eq!(
            enrolled.status,
            StatusCode::SEE_OTHER,
            "{store}: {}",
            enrolled.body
        );
        let id = enrolled.location().split('/').nth(2).unwrap().to_owned();
        assert!(
            browser
                .get("/me")
                .await
                .body
                .contains(&format!("/me/{id}/move"))
        );
        let page = browser.get(&format!("/me/{id}/move")).await;
        assert_eq!(page.status, StatusCode::OK, "{store}");
        let granted = browser
            .post(
                &format!("/me/{id}/move/consent"),
                &[("destination", "420100"), ("purpose", "返岗复工")],
            )
            .await;
        assert_eq!(granted.status, StatusCode::OK, "{store}: {}", granted.body);
        let code = granted
            .body
            .split("<code>")
            .nth(1)
            .and_then(|rest| rest.split("</code>").next())
            .unwrap()
            .to_owned();
        assert_eq!(code.len(), 20, "{store}: {code}");
        let consents = node.state.store.consents_of(&id).await.unwrap();
        assert_eq!(consents.len(), 1, "{store}");
        assert_eq!(consents[0].destination, "420100");
        let refused = browser
            .post(
                &format!("/me/{id}/move/transfer"),
                &[("origin", "420100"), ("code", code.as_str())],
            )
            .await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{store}");
        assert!(
            refused.body.contains("<code>unknown_region</code>"),
            "{}",
            refused.body
        );
        node.stop().await;
    }
}

#[tokio::test]
async fn a_family_comes_back_through_the_pages() {
    use super::returns::{date_in, worker};
    for node in nodes().await {
        let store = node.store_name();
        let phone = "13900000017";
        let mut resident = Browser::new(&node);
        let adult = resident.enrolled(&node, phone).await;
        let child = resident
            .post(
                "/me/enroll",
                &[
                    ("name", "张小丰"),
                    ("document_kind", "none"),
                    ("document_number", ""),
                    ("phone", phone),
                    ("guardian_id", adult.as_str()),
                ],
            )
            .await;
        assert_eq!(
            child.status,
            StatusCode::SEE_OTHER,
            "{store}: {}",
            child.body
        );
        assert!(
            resident
                .get("/me")
                .await
                .body
                .contains(&format!("/me/{adult}/returns"))
        );

        // The resident applies for the family from the page and sees where it stands.
        let planned = date_in(1);
        let applied = resident
            .post(
                &format!("/me/{adult}/returns"),
                &[
                    ("origin", "420100"),
                    ("community", "110105-003-002"),
                    ("address", "某小区 5 号楼"),
                    ("reason", "返京复工"),
                    ("planned_date", planned.as_str()),
                    ("transport", "train"),
                    ("with_children", "on"),
                ],
            )
            .await;
        assert_eq!(
            applied.status,
            StatusCode::SEE_OTHER,
            "{store}: {}",
            applied.body
        );
        let page = resident.get(&format!("/me/{adult}/returns")).await;
        assert!(
            page.body.contains("待社区核实") && page.body.contains("2 人"),
            "{store}: {}",
            page.body
        );
        let id = node.state.store.returns_of_person(&adult).await.unwrap()[0]
            .id
            .clone();

        // The community worker calls, approves, and sees it on the console.
        let mut community = Browser::new(&node);
        community
            .sign_in(&worker(&node, "community_worker", "110105-003-002").await)
            .await;
        let console = community.get("/console/returns").await;
        assert_eq!(console.status, StatusCode::OK, "{store}: {}", console.body);
        assert!(
            console.body.contains(&format!("data-id=\"{id}\"")),
            "{}",
            console.body
        );
        for (path, fields) in [
            (
                "calls",
                vec![("outcome", "address_confirmed"), ("note", "本人接听")],
            ),
            (
                "decision",
                vec![("decision", "approve"), ("reason", "核实无误")],
            ),
        ] {
            let done = community
                .post(&format!("/console/returns/{id}/{path}"), &fields)
                .await;
            assert_eq!(
                done.status,
                StatusCode::SEE_OTHER,
                "{store} {path}: {}",
                done.body
            );
        }
        let page = resident.get(&format!("/me/{adult}/returns")).await;
        assert!(
            page.body.contains("社区来电：地址已核实") && page.body.contains("社区审核通过"),
            "{store}: {}",
            page.body
        );
        assert!(
            resident
                .get(&format!("/me/{adult}/code"))
                .await
                .body
                .contains("返程已获批")
        );

        // The station scans the adult's pass and takes the temperature.
        let manager = node.staff("venue_manager").await;
        let station = super::scans::gate(&node, &manager, "station").await;
        let mut gate = Browser::new(&node);
        gate.sign_in(&station.token).await;
        assert_eq!(
            gate.get("/checkpoint/arrivals").await.status,
            StatusCode::OK
        );
        let api = node.resident(phone).await;
        let pass = super::scans::pass_text(&node, &api, &adult).await;
        let arrived = gate
            .post(
                "/checkpoint/arrivals",
                &[("text", pass.as_str()), ("temperature", "36.6")],
            )
            .await;
        assert!(
            arrived.body.contains("已进入") && arrived.body.contains("data-fever=\"false\""),
            "{store}: {}",
            arrived.body
        );

        // District and street receive by number; the community by scanning the pass.
        for (scope, stage) in [("110105", "district"), ("110105-003", "street")] {
            let mut side = Browser::new(&node);
            side.sign_in(&worker(&node, "community_worker", scope).await)
                .await;
            let done = side
                .post(
                    &format!("/console/returns/{id}/handoffs"),
                    &[("stage", stage)],
                )
                .await;
            assert_eq!(
                done.status,
                StatusCode::SEE_OTHER,
                "{store} {stage}: {}",
                done.body
            );
        }
        let received = community
            .post(
                "/console/returns/handoffs",
                &[("text", pass.as_str()), ("stage", "community")],
            )
            .await;
        assert_eq!(
            received.status,
            StatusCode::SEE_OTHER,
            "{store}: {}",
            received.body
        );
        let console = community.get("/console/returns").await;
        assert!(
            console.body.contains("张*丰") && console.body.contains("1 / 14"),
            "{store}: the observation board: {}",
            console.body
        );
        let code = resident.get(&format!("/me/{adult}/code")).await;
        assert!(
            code.body.contains("居家观察第 1 / 14 天") && code.body.contains("居家观察中（自"),
            "{store}: the journey's tag and the policy's: {}",
            code.body
        );

        // An official reads the region's funnel.
        let mut official = Browser::new(&node);
        official.sign_in(&node.staff("health_official").await).await;
        let figures = official.get("/console/returns").await;
        assert_eq!(figures.status, StatusCode::OK);
        assert!(figures.body.contains("<svg") && figures.body.contains("居家观察"));
        node.stop().await;
    }
}

#[tokio::test]
async fn an_official_proposes_a_version_another_reads_its_dry_run_and_approves_it() {
    for node in nodes().await {
        let store = node.store_name();
        let mut doc = healthcode_core::Policy::default_policy()
            .unwrap()
            .document()
            .clone();
        doc.version = "2020.2-page".into();
        doc.rules.retain(|r| r.id != "declared-symptoms");
        let text = serde_json::to_string(&doc).unwrap();
        // A resident declares a fever and where they live, from the page's list of districts.
        let mut resident = Browser::new(&node);
        resident.log_in(&node, "13900001901").await;
        let enrolled = resident
            .post(
                "/me/enroll",
                &[
                    ("name", "李四"),
                    ("document_kind", "resident_id"),
                    ("document_number", "11010519491231002X"),
                    ("phone", "13900001901"),
                ],
            )
            .await;
        let id = enrolled.location().split('/').nth(2).unwrap().to_owned();
        let form = resident.get(&format!("/me/{id}/declare")).await;
        assert!(
            form.body
                .contains("<option value=\"330106\">西湖区</option>"),
            "{store}: the node's districts by name: {}",
            form.body
        );
        let declared = resident
            .post(
                &format!("/me/{id}/declare"),
                &[("temperature", "38.4"), ("district", "330106")],
            )
            .await;
        assert_eq!(declared.status, StatusCode::SEE_OTHER, "{}", declared.body);
        let mut proposer = Browser::new(&node);
        proposer.sign_in(&node.staff("health_official").await).await;
        let page = proposer.get("/policy/versions").await;
        assert!(
            page.body.contains("id=\"propose\""),
            "{store}: {}",
            page.body
        );
        let proposed = proposer
            .post(
                "/console/policy",
                &[
                    ("document", text.as_str()),
                    ("legal_basis", "京卫发〔2020〕12号"),
                    ("effective_at", ""),
                ],
            )
            .await;
        assert_eq!(
            proposed.status,
            StatusCode::SEE_OTHER,
            "{store}: {}",
            proposed.body
        );
        let at = proposed.location().to_owned();
        let own = proposer.get(&at).await;
        assert!(own.body.contains("id=\"dry-run\""), "{store}: {}", own.body);
        let refused = proposer.post(&format!("{at}/approve"), &[]).await;
        assert_eq!(
            refused.status,
            StatusCode::CONFLICT,
            "{store}: the proposer"
        );

        let mut approver = Browser::new(&node);
        approver.sign_in(&node.staff("health_official").await).await;
        let read = approver.get(&at).await;
        assert!(
            read.body.contains("试算")
                && read
                    .body
                    .contains("删除规则 <code>declared-symptoms</code>")
                && read.body.contains("<td class=\"districts\">西湖区 1</td>"),
            "{store}: {}",
            read.body
        );
        let approved = approver.post(&format!("{at}/approve"), &[]).await;
        assert_eq!(
            approved.status,
            StatusCode::SEE_OTHER,
            "{store}: {}",
            approved.body
        );

        // Anyone reads the history.
        let public = Browser::new(&node).get("/policy/versions").await;
        assert_eq!(public.status, StatusCode::OK);
        assert!(
            public.body.contains("data-version=\"2020.2-page\"")
                && public.body.contains("已批准")
                && public.body.contains("京卫发〔2020〕12号")
                && !public.body.contains("id=\"propose\""),
            "{store}: {}",
            public.body
        );
        node.stop().await;
    }
}

/// A valid resident ID for someone born `years` ago today.
fn resident_id_aged(years: i32) -> String {
    let today = super::system_now().date();
    let born = today.replace_year(today.year() - years).unwrap();
    let first17 = format!(
        "330106{:04}{:02}{:02}001",
        born.year(),
        u8::from(born.month()),
        born.day()
    );
    let check = healthcode_core::identity::resident_id_check(&first17).unwrap();
    format!("{first17}{check}")
}

#[tokio::test]
async fn enrollment_mends_errors_in_place_and_a_document_taken_by_someone_else_can_be_claimed() {
    for node in nodes().await {
        // Someone enrolls a document that is not theirs.
        let mut impostor = Browser::new(&node);
        let taken = impostor.enrolled(&node, "13900000031").await;

        // Its holder logs in: the form shows the phone they logged in with, so they need not
        // type it, and a wrong check digit is said next to the number, the form kept.
        let mut holder = Browser::new(&node);
        holder.log_in(&node, "13900000032").await;
        let me = holder.get("/me").await;
        assert!(
            me.body.contains("value=\"13900000032\" readonly"),
            "{}",
            me.body
        );
        let enroll = |number: &'static str| {
            [
                ("name", "张三丰"),
                ("document_kind", "resident_id"),
                ("document_number", number),
            ]
        };
        let wrong = holder
            .post("/me/enroll", &enroll("110105194912310021"))
            .await;
        assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            wrong.body.contains(
                "<p class=\"field-error\" id=\"document_number-error\">证件号码校验位不正确</p>"
            ),
            "{}",
            wrong.body
        );
        assert!(
            wrong
                .body
                .contains("aria-describedby=\"document_number-error\"")
        );
        assert!(
            wrong.body.contains("value=\"张三丰\""),
            "the form keeps what was typed"
        );
        // In English, in English.
        holder.get("/me?lang=en").await;
        let bad_name = holder
            .post(
                "/me/enroll",
                &[
                    ("name", "张\u{200b}三"),
                    ("document_kind", "resident_id"),
                    ("document_number", "11010519491231002X"),
                ],
            )
            .await;
        assert_eq!(bad_name.status, StatusCode::UNPROCESSABLE_ENTITY);
        let said = bad_name.body.split("id=\"name-error\">").nth(1).unwrap();
        assert!(
            said.starts_with("a name is written as on the document"),
            "{said}"
        );
        holder.get("/me?lang=zh").await;

        // A child's resident ID is enrolled by a guardian, not as oneself.
        let child = resident_id_aged(9);
        let too_young = holder
            .post(
                "/me/enroll",
                &[
                    ("name", "张小"),
                    ("document_kind", "resident_id"),
                    ("document_number", &child),
                ],
            )
            .await;
        assert_eq!(too_young.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            too_young.body.contains("未满 14 周岁"),
            "{}",
            too_young.body
        );
        let (status, body) = node
            .post(
                "/api/v1/people",
                &holder.cookie("hc_session").map(str::to_owned).unwrap(),
                json!({"document_kind": "resident_id", "document_number": child, "name": "张小", "phone": "13900000032"}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["code"], "child_needs_guardian");

        // The taken document: not a dead end, but a claim.
        let conflict = holder
            .post("/me/enroll", &enroll("11010519491231002X"))
            .await;
        assert_eq!(conflict.status, StatusCode::CONFLICT);
        assert!(
            conflict.body.contains("action=\"/me/claims\""),
            "{}",
            conflict.body
        );
        let claimed = holder
            .post(
                "/me/claims",
                &[
                    ("document_kind", "resident_id"),
                    ("document_number", "11010519491231002X"),
                    ("reason", "我从未申领，身份证去年遗失"),
                ],
            )
            .await;
        assert_eq!(claimed.status, StatusCode::SEE_OTHER, "{}", claimed.body);
        let me = holder.get("/me").await;
        assert!(me.body.contains("待工作人员核实"), "{}", me.body);
        let again = holder
            .post(
                "/me/claims",
                &[
                    ("document_kind", "resident_id"),
                    ("document_number", "11010519491231002X"),
                    ("reason", "再次申诉"),
                ],
            )
            .await;
        assert_eq!(
            again.status,
            StatusCode::CONFLICT,
            "one open claim per phone"
        );

        // A community worker checks the holder's card in person and upholds the claim: the
        // record moves to the holder's phone, and the impostor loses it.
        let mut worker = Browser::new(&node);
        worker.sign_in(&node.staff("community_worker").await).await;
        let queue = worker.get("/console/appeals").await;
        assert_eq!(queue.status, StatusCode::OK, "{}", queue.body);
        assert!(queue.body.contains("139****0032") && queue.body.contains("张*丰"));
        let claim_id = queue
            .body
            .split("action=\"/console/claims/")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .unwrap()
            .to_owned();
        let undecided = worker
            .post(
                &format!("/console/claims/{claim_id}"),
                &[("reason", "核实")],
            )
            .await;
        assert_eq!(
            undecided.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "no default decision"
        );
        let decided = worker
            .post(
                &format!("/console/claims/{claim_id}"),
                &[("outcome", "upheld"), ("reason", "持身份证原件到社区核实")],
            )
            .await;
        assert_eq!(decided.status, StatusCode::SEE_OTHER, "{}", decided.body);
        let me = holder.get("/me").await;
        assert!(
            me.body.contains(&format!("/me/{taken}/code")),
            "{}",
            me.body
        );
        assert!(me.body.contains("已核实，登记已改到您的手机号下"));
        let gone = impostor.get(&format!("/me/{taken}/code")).await;
        assert!(
            matches!(gone.status, StatusCode::FORBIDDEN | StatusCode::NOT_FOUND),
            "{}",
            gone.status
        );
        let audit = holder.get(&format!("/me/{taken}/audit")).await;
        assert!(
            audit.body.contains("将您的登记改到证件持有人的手机号下"),
            "{}",
            audit.body
        );
    }
}
