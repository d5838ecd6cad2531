//! `Client`: a browser-like client, or an API client, of one Keyward. It
//! keeps the session cookie and the CSRF token of the last page it saw, the
//! same way whether it drives the router in-process or a real server over
//! HTTP, and knows the steps a user takes (sign in, create a credential,
//! rotate it, approve a request, …) so tests need not spell out their paths.

use std::net::SocketAddr;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use base64::Engine;
use http_body_util::BodyExt;
use oauth2::reqwest;
use serde_json::Value;
use tower::ServiceExt;

use super::forms::{
    client_id_in, credential_fields, csrf_in, form_body, invitation_path_in, pages, secret_in, with,
};

/// Where a client's requests go.
#[derive(Clone)]
enum Transport {
    /// Straight into the router, with the peer address set by the client.
    InProcess(Router),
    /// To a server listening at `base` (`http://127.0.0.1:port`).
    Http { base: String, http: reqwest::Client },
}

#[derive(Clone)]
pub struct Client {
    transport: Transport,
    /// `keyward_session=…`, once the server has set it.
    pub cookie: Option<String>,
    /// Every other cookie the server set (the visitor's CSRF cookie), by name.
    others: std::collections::BTreeMap<String, String>,
    /// The CSRF token of the last page that had one.
    pub csrf: Option<String>,
    ip: [u8; 4],
    htmx_next: bool,
}

/// A request to send with [`Client::send`]; the client adds the cookie.
#[derive(Debug)]
pub struct Request {
    method: Method,
    path: String,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Request {
    pub fn header(mut self, name: impl AsRef<str>, value: impl AsRef<str>) -> Request {
        self.headers.append(
            HeaderName::from_bytes(name.as_ref().as_bytes()).unwrap(),
            HeaderValue::from_str(value.as_ref()).unwrap(),
        );
        self
    }

    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Request {
        self.body = body.into();
        self
    }

    /// An `application/x-www-form-urlencoded` body of exactly `fields`.
    pub fn form(self, fields: &[(&str, &str)]) -> Request {
        self.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(form_body(fields))
    }

    /// HTTP Basic authentication as RFC 6749 §2.3.1 has OAuth clients send
    /// it: each part form-urlencoded first.
    pub fn basic_auth(self, client_id: &str, secret: &str) -> Request {
        let encode = |s: &str| serde_urlencoded::to_string([("v", s)]).unwrap()[2..].to_owned();
        let pair = format!("{}:{}", encode(client_id), encode(secret));
        let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
        self.header(header::AUTHORIZATION, format!("Basic {encoded}"))
    }
}

#[derive(Debug)]
pub struct TestResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl TestResponse {
    /// The status, and for a refusal, not the CSRF check's: a test that
    /// expects a 403 for a rule must not pass because the form's token was
    /// missing (that is [`assert_csrf_refused`](Self::assert_csrf_refused)).
    #[track_caller]
    pub fn assert_status(&self, status: StatusCode) -> &Self {
        assert_eq!(
            self.status, status,
            "unexpected status; body:\n{}",
            self.body
        );
        assert!(
            !is_csrf_refusal(&self.body),
            "refused by the CSRF check, not by the rule under test:\n{}",
            self.body
        );
        self
    }

    /// Refused by the CSRF check: 403 with its message.
    #[track_caller]
    pub fn assert_csrf_refused(&self) -> &Self {
        assert_eq!(self.status, StatusCode::FORBIDDEN, "{}", self.body);
        assert!(is_csrf_refusal(&self.body), "{}", self.body);
        self
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    pub fn location(&self) -> &str {
        self.header("location")
    }

    #[track_caller]
    pub fn assert_contains(&self, text: &str) -> &Self {
        assert!(
            self.body.contains(text),
            "expected {text:?} in body:\n{}",
            self.body
        );
        self
    }

    #[track_caller]
    pub fn assert_lacks(&self, text: &str) -> &Self {
        assert!(
            !self.body.contains(text),
            "did not expect {text:?} in body:\n{}",
            self.body
        );
        self
    }

    /// The `Set-Cookie` of `name`, whole (with its attributes), if any.
    pub fn cookie_set(&self, name: &str) -> Option<&str> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|c| c.split_once('=').is_some_and(|(n, _)| n == name))
    }

    /// The `Set-Cookie` of `name`, which the response must have.
    #[track_caller]
    pub fn set_cookie(&self, name: &str) -> &str {
        self.cookie_set(name)
            .unwrap_or_else(|| panic!("no {name} cookie in {:?}", self.headers))
    }

    /// The session id the response set, if any.
    pub fn session_cookie(&self) -> Option<String> {
        self.cookie_set("keyward_session")
            .map(|c| c.split(';').next().unwrap_or("").to_owned())
    }

    /// Whether the response ends the session (a `Max-Age=0` cookie).
    fn expires_the_session(&self) -> bool {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .any(|v| v.to_str().unwrap_or("").contains("Max-Age=0"))
    }

    /// The body as JSON.
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", self.body))
    }

    /// An OAuth error response (RFC 6749 §5.2): the status, the `error`
    /// code, and never cached.
    #[track_caller]
    pub fn assert_oauth_error(&self, status: StatusCode, error: &str) -> &Self {
        assert_eq!(self.status, status, "{}", self.body);
        assert_eq!(self.header("content-type"), "application/json");
        let json = self.json();
        assert_eq!(json["error"], error, "{}", self.body);
        assert_eq!(self.header("cache-control"), "no-store");
        self
    }
}

/// What the CSRF checks answer: Keyward's for a missing or wrong token, and
/// tower-http's (as the error page words it) for another site's request.
pub const CSRF_REFUSALS: [&str; 2] = [
    "This form has expired or did not come from Keyward",
    "This request came from another site or its form had expired",
];

fn is_csrf_refusal(body: &str) -> bool {
    CSRF_REFUSALS.iter().any(|m| body.contains(m))
}

/// A route to try as every persona: method, path, form fields.
pub type Route = (&'static str, String, Vec<(&'static str, &'static str)>);

/// How long the previous secret keeps working after a rotation.
#[derive(Clone, Copy, Debug)]
pub enum Grace {
    /// No choice sent: what the form does by default.
    Unchosen,
    /// Invalidated at once (`0`).
    Immediately,
    Seconds(i64),
    Hours(i64),
    Days(i64),
}

impl Grace {
    fn seconds(self) -> Option<i64> {
        match self {
            Grace::Unchosen => None,
            Grace::Immediately => Some(0),
            Grace::Seconds(n) => Some(n),
            Grace::Hours(n) => Some(n * 3600),
            Grace::Days(n) => Some(n * 86_400),
        }
    }
}

/// A member's role, as the Members form names it.
#[derive(Clone, Copy, Debug)]
pub enum Role {
    Owner,
    /// Admin · API Credentials: Can Edit.
    CanEdit,
    /// Admin · API Credentials: Can View.
    CanView,
    /// Anything else a crafted form might send.
    Unknown(&'static str),
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::CanEdit => "admin-edit",
            Role::CanView => "admin-view",
            Role::Unknown(other) => other,
        }
    }
}

/// How an OAuth client proves who it is.
#[derive(Clone, Copy, Debug)]
pub enum Auth<'a> {
    /// Not at all.
    Anonymous,
    /// `client_secret_basic`: (client ID, secret) in the Authorization header.
    Basic(&'a str, &'a str),
    /// `client_secret_post`: (client ID, secret) in the form.
    Post(&'a str, &'a str),
}

impl Client {
    /// A client of the router, in-process, from 192.0.2.10.
    pub fn in_process(router: Router) -> Client {
        Client::over(Transport::InProcess(router))
    }

    /// A client of the server at `base` (`http://127.0.0.1:port`).
    pub fn http(base: &str) -> Client {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Client::over(Transport::Http {
            base: base.trim_end_matches('/').to_owned(),
            http,
        })
    }

    /// The same browser (cookie, CSRF token) talking to another server at
    /// `base`, as behind a load balancer. Over HTTP only.
    pub fn at(&self, base: &str) -> Client {
        let Transport::Http { http, .. } = &self.transport else {
            panic!("an in-process client has no server to change")
        };
        Client {
            transport: Transport::Http {
                base: base.trim_end_matches('/').to_owned(),
                http: http.clone(),
            },
            ..self.clone()
        }
    }

    fn over(transport: Transport) -> Client {
        Client {
            transport,
            cookie: None,
            others: Default::default(),
            csrf: None,
            ip: [192, 0, 2, 10],
            htmx_next: false,
        }
    }

    /// Sends the following requests from another address. In-process only:
    /// over HTTP the peer is the loopback address.
    pub fn set_ip(&mut self, ip: [u8; 4]) {
        assert!(
            matches!(self.transport, Transport::InProcess(_)),
            "a client over HTTP cannot choose its address"
        );
        self.ip = ip;
    }

    /// The value of a cookie the client holds besides the session's (the
    /// visitor's CSRF cookie, the device cookie).
    pub fn other_cookie(&self, name: &str) -> Option<&str> {
        self.others.get(name).map(String::as_str)
    }

    /// Puts a cookie in the jar, or with `None` takes it out: what a browser
    /// whose cookies were copied, altered or cleared sends.
    pub fn put_cookie(&mut self, name: &str, value: Option<&str>) {
        match value {
            Some(value) => self.others.insert(name.to_owned(), value.to_owned()),
            None => self.others.remove(name),
        };
    }

    /// Sends the next GET or form post as htmx does: with `HX-Request`, and
    /// the CSRF token in `X-CSRF-Token` rather than in the form.
    pub fn htmx(&mut self) -> &mut Client {
        self.htmx_next = true;
        self
    }

    /// A request carrying the session cookie, to finish and [`send`](Self::send).
    pub fn request(&self, method: &str, path: &str) -> Request {
        let mut request = Request {
            method: Method::from_bytes(method.as_bytes()).unwrap(),
            path: path.to_owned(),
            headers: HeaderMap::new(),
            body: Vec::new(),
        };
        let cookies: Vec<String> = self
            .cookie
            .iter()
            .cloned()
            .chain(
                self.others
                    .iter()
                    .map(|(name, value)| format!("{name}={value}")),
            )
            .collect();
        if !cookies.is_empty() {
            request = request.header(header::COOKIE, cookies.join("; "));
        }
        request
    }

    /// Sends a request; keeps the session cookie and the CSRF token it brings.
    pub async fn send(&mut self, request: Request) -> TestResponse {
        let (status, headers, bytes) = match &self.transport {
            Transport::InProcess(router) => {
                let mut builder = axum::http::Request::builder()
                    .method(request.method)
                    .uri(&request.path)
                    .header(header::HOST, "127.0.0.1:8080");
                for (name, value) in &request.headers {
                    builder = builder.header(name, value);
                }
                let mut inner = builder.body(Body::from(request.body)).unwrap();
                inner
                    .extensions_mut()
                    .insert(ConnectInfo(SocketAddr::from((self.ip, 40000))));
                let response = router.clone().oneshot(inner).await.unwrap();
                let status = response.status();
                let headers = response.headers().clone();
                let bytes = response.into_body().collect().await.unwrap().to_bytes();
                (status, headers, bytes.to_vec())
            }
            Transport::Http { base, http } => {
                let response = http
                    .request(request.method, format!("{base}{}", request.path))
                    .headers(request.headers)
                    .body(request.body)
                    .send()
                    .await
                    .unwrap();
                let status = response.status();
                let headers = response.headers().clone();
                let bytes = response.bytes().await.unwrap();
                (status, headers, bytes.to_vec())
            }
        };
        let response = TestResponse {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        };
        for set in response.headers.get_all(header::SET_COOKIE) {
            let set = set.to_str().unwrap_or("");
            let Some((name, value)) = set.split(';').next().and_then(|c| c.split_once('=')) else {
                continue;
            };
            if name == "keyward_session" {
                continue;
            }
            if set.contains("Max-Age=0") {
                self.others.remove(name);
            } else {
                self.others.insert(name.to_owned(), value.to_owned());
            }
        }
        if let Some(cookie) = response.session_cookie() {
            // An expired cookie (sign-out) empties the jar.
            self.cookie = if response.expires_the_session() {
                None
            } else {
                Some(cookie)
            };
        }
        if let Some(token) = csrf_in(&response.body) {
            self.csrf = Some(token);
        }
        response
    }

    /// Follows a link (or, after [`htmx`](Self::htmx), fetches a fragment).
    pub async fn get(&mut self, path: &str) -> TestResponse {
        let mut request = self.request("GET", path);
        if std::mem::take(&mut self.htmx_next) {
            request = request.header("hx-request", "true");
        }
        self.send(request).await
    }

    /// `GET` as htmx does.
    pub async fn htmx_get(&mut self, path: &str) -> TestResponse {
        self.htmx().get(path).await
    }

    /// Posts a form as the browser would from one of our pages: with the
    /// CSRF token of the last page and `Sec-Fetch-Site: same-origin`. After
    /// [`htmx`](Self::htmx), as htmx does: the token in `X-CSRF-Token`.
    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> TestResponse {
        // A browser posts a form of a page it loaded, with that page's token.
        let token = self
            .csrf
            .clone()
            .expect("no CSRF token: open a page with a form before posting");
        let request = self
            .request("POST", path)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header("sec-fetch-site", "same-origin");
        let request = if std::mem::take(&mut self.htmx_next) {
            request
                .header("hx-request", "true")
                .header("x-csrf-token", token)
                .body(form_body(fields))
        } else {
            let mut all = vec![("csrf_token", token.as_str())];
            all.extend_from_slice(fields);
            request.body(form_body(&all))
        };
        self.send(request).await
    }

    /// Sends `route` as a plain browser would.
    pub async fn call(&mut self, route: &Route) -> TestResponse {
        let (method, path, fields) = route;
        if *method == "GET" {
            self.get(path).await
        } else {
            self.post(path, fields).await
        }
    }
}

/// Signing in and out, the account, the organization.
impl Client {
    /// Opens the sign-in page and submits it.
    pub async fn sign_in(&mut self, email: &str, password: &str) -> TestResponse {
        self.get(pages::LOGIN).await;
        self.post(pages::LOGIN, &[("email", email), ("password", password)])
            .await
    }

    pub async fn sign_out(&mut self) -> TestResponse {
        self.post("/logout", &[]).await
    }

    /// Account > Change password, with the new password typed twice.
    pub async fn change_password(&mut self, current: &str, new: &str) -> TestResponse {
        self.post(
            pages::ACCOUNT,
            &[
                ("current_password", current),
                ("password", new),
                ("password_confirm", new),
            ],
        )
        .await
    }

    /// Settings > Organization > Save.
    pub async fn save_organization(&mut self, name: &str, require_approval: bool) -> TestResponse {
        let mut fields = vec![("org_name", name)];
        if require_approval {
            fields.push(("require_approval", "on"));
        }
        self.post(pages::ORGANIZATION, &fields).await
    }

    /// Support staff's organization switcher; `back` is where to return.
    pub async fn switch_org(&mut self, org_id: &str, back: Option<&str>) -> TestResponse {
        let mut fields = vec![("org_id", org_id)];
        if let Some(back) = back {
            fields.push(("back", back));
        }
        self.post("/switch-org", &fields).await
    }
}

/// Settings > Credentials.
impl Client {
    /// Submits the New Credential form with `fields`.
    pub async fn submit_credential(&mut self, fields: &[(&str, &str)]) -> TestResponse {
        self.post(pages::CREDENTIALS, fields).await
    }

    /// Creates a credential through the no-JavaScript form (Monitoring, all
    /// addresses); returns (client ID, secret) from the reveal.
    pub async fn create_credential(&mut self, name: &str) -> (String, String) {
        let form = self.request("GET", pages::NEW_CREDENTIAL);
        self.send(form).await;
        let response = self.submit_credential(&credential_fields(name)).await;
        response.assert_status(StatusCode::OK);
        (
            client_id_in(&response.body).unwrap(),
            secret_in(&response.body).unwrap(),
        )
    }

    /// Submits the New Credential form with a justification, as a request
    /// for approval.
    pub async fn request_credential(&mut self, name: &str, justification: &str) -> TestResponse {
        let fields = with(credential_fields(name), &[("justification", justification)]);
        self.submit_credential(&fields).await
    }

    /// Saves the Edit dialog of a credential with `fields`.
    pub async fn edit_credential(
        &mut self,
        client_id: &str,
        fields: &[(&str, &str)],
    ) -> TestResponse {
        self.post(&pages::credential(client_id, "edit"), fields)
            .await
    }

    /// Rotate Credential, keeping the previous secret for `grace`.
    pub async fn rotate(&mut self, client_id: &str, grace: Grace) -> TestResponse {
        let seconds = grace.seconds().map(|s| s.to_string());
        let fields: Vec<(&str, &str)> = seconds.iter().map(|s| ("grace", s.as_str())).collect();
        self.post(&pages::credential(client_id, "rotate"), &fields)
            .await
    }

    /// Ends a rotation's grace window now.
    pub async fn expire_previous(&mut self, client_id: &str) -> TestResponse {
        self.post(&pages::credential(client_id, "expire-previous"), &[])
            .await
    }

    pub async fn disable(&mut self, client_id: &str) -> TestResponse {
        self.post(&pages::credential(client_id, "disable"), &[])
            .await
    }

    pub async fn enable(&mut self, client_id: &str) -> TestResponse {
        self.post(&pages::credential(client_id, "enable"), &[])
            .await
    }

    pub async fn make_primary(&mut self, client_id: &str) -> TestResponse {
        self.post(&pages::credential(client_id, "make-primary"), &[])
            .await
    }

    pub async fn delete(&mut self, client_id: &str) -> TestResponse {
        self.post(&pages::credential(client_id, "delete"), &[])
            .await
    }

    /// An owner approves a pending request.
    pub async fn approve(&mut self, request_id: &str) -> TestResponse {
        self.post(&pages::request(request_id, "approve"), &[]).await
    }

    /// Generate token on the Account page: `access` "read" or "write",
    /// `expires` a number of days or "date" (with `on`).
    pub async fn make_token(
        &mut self,
        name: &str,
        org_id: i64,
        access: &str,
        expires: &str,
        on: &str,
    ) -> TestResponse {
        let org = org_id.to_string();
        self.post(
            "/account/tokens",
            &[
                ("token_name", name),
                ("token_org", &org),
                ("token_access", access),
                ("token_expires", expires),
                ("token_expires_on", on),
            ],
        )
        .await
    }

    /// A new personal access token for the organization, valid 30 days,
    /// read off the page that shows it once.
    pub async fn api_token(&mut self, name: &str, org_id: i64, access: &str) -> String {
        self.get("/account").await;
        let page = self.make_token(name, org_id, access, "30", "").await;
        page.assert_status(StatusCode::OK);
        let marker = "<code id=\"new-token\" class=\"secret-text\">";
        let start = page.body.find(marker).expect("the new token is shown") + marker.len();
        page.body[start..start + page.body[start..].find('<').unwrap()].to_owned()
    }

    /// A request to the JSON API with a bearer token.
    pub async fn api(
        &mut self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> TestResponse {
        let mut request = self
            .request(method, path)
            .header(header::AUTHORIZATION, format!("Bearer {token}"));
        if let Some(body) = body {
            request = request
                .header(header::CONTENT_TYPE, "application/json")
                .body(body.to_string());
        }
        self.send(request).await
    }

    /// An owner rejects a pending request.
    pub async fn reject(&mut self, request_id: &str) -> TestResponse {
        self.post(&pages::request(request_id, "reject"), &[]).await
    }

    /// An owner rejects a pending request, saying why.
    pub async fn reject_with(&mut self, request_id: &str, reason: &str) -> TestResponse {
        self.post(&pages::request(request_id, "reject"), &[("reason", reason)])
            .await
    }

    /// The requester generates the key of an approved request.
    pub async fn generate(&mut self, request_id: &str) -> TestResponse {
        self.post(&pages::request(request_id, "generate"), &[])
            .await
    }
}

/// Settings > Members.
impl Client {
    /// An owner turns on *Require approval for new credentials* for Acme Payments.
    pub async fn require_approval(&mut self) {
        self.get(pages::ORGANIZATION).await;
        self.save_organization("Acme Payments", true)
            .await
            .assert_status(StatusCode::SEE_OTHER);
    }

    /// Invites `email` with `role`; the response shows the link once.
    pub async fn invite(&mut self, email: &str, role: Role) -> TestResponse {
        self.post(
            pages::MEMBERS,
            &[("email", email), ("access", role.as_str())],
        )
        .await
    }

    /// Invites `email` and returns the link's path (`/invitations/kwinv_…`).
    pub async fn invitation_link(&mut self, email: &str, role: Role) -> String {
        self.get(pages::MEMBERS).await;
        let invited = self.invite(email, role).await;
        invited.assert_status(StatusCode::OK);
        invitation_path_in(&invited.body).expect("the invitation link is shown")
    }

    /// Opens an invitation link, then sends its form with `fields` (the
    /// page's CSRF token added).
    pub async fn accept_invitation(&mut self, path: &str, fields: &[(&str, &str)]) -> TestResponse {
        self.get(path).await.assert_status(StatusCode::OK);
        self.post(path, fields).await
    }

    pub async fn change_role(&mut self, user_id: i64, role: Role) -> TestResponse {
        self.post(&pages::member(user_id), &[("access", role.as_str())])
            .await
    }

    pub async fn remove_member(&mut self, user_id: i64) -> TestResponse {
        self.post(&pages::remove_member(user_id), &[]).await
    }
}

/// The OAuth 2.0 endpoints, as a machine client calls them.
impl Client {
    /// `POST /oauth/token` with exactly `fields`, and Basic authentication
    /// when `basic` is (client ID, secret).
    pub async fn token_request(
        &mut self,
        fields: &[(&str, &str)],
        basic: Option<(&str, &str)>,
    ) -> TestResponse {
        let mut request = self.request("POST", "/oauth/token").form(fields);
        if let Some((id, secret)) = basic {
            request = request.basic_auth(id, secret);
        }
        self.send(request).await
    }

    /// A client-credentials grant, the secret in the form.
    pub async fn client_credentials(&mut self, client_id: &str, secret: &str) -> TestResponse {
        self.token_request(
            &[
                ("grant_type", "client_credentials"),
                ("client_id", client_id),
                ("client_secret", secret),
            ],
            None,
        )
        .await
    }

    /// An access token, which must be granted.
    pub async fn get_token(&mut self, client_id: &str, secret: &str) -> String {
        let response = self.client_credentials(client_id, secret).await;
        response.assert_status(StatusCode::OK);
        response.json()["access_token"].as_str().unwrap().to_owned()
    }

    /// `POST /oauth/introspect` (RFC 7662).
    pub async fn introspection(&mut self, auth: Auth<'_>, token: &str) -> TestResponse {
        let request = self.request("POST", "/oauth/introspect");
        let request = match auth {
            Auth::Anonymous => request.form(&[("token", token)]),
            Auth::Basic(id, secret) => request.form(&[("token", token)]).basic_auth(id, secret),
            Auth::Post(id, secret) => request.form(&[
                ("token", token),
                ("client_id", id),
                ("client_secret", secret),
            ]),
        };
        self.send(request).await
    }

    /// What introspection says of `token`; the call itself must succeed,
    /// uncached.
    pub async fn introspect(&mut self, auth: Auth<'_>, token: &str) -> Value {
        let response = self.introspection(auth, token).await;
        response.assert_status(StatusCode::OK);
        assert_eq!(response.header("cache-control"), "no-store");
        response.json()
    }

    /// `POST /oauth/revoke` (RFC 7009).
    pub async fn revoke(&mut self, auth: Auth<'_>, token: &str) -> TestResponse {
        let request = self.request("POST", "/oauth/revoke");
        let request = match auth {
            Auth::Anonymous => request.form(&[("token", token)]),
            Auth::Basic(id, secret) => request.form(&[("token", token)]).basic_auth(id, secret),
            Auth::Post(id, secret) => request.form(&[
                ("token", token),
                ("client_id", id),
                ("client_secret", secret),
            ]),
        };
        self.send(request).await
    }
}
