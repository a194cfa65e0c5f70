//! The OpenAPI 3.1 document, generated from the handlers' annotations and the types they take and
//! return; served at /api/v1/openapi.json.

use crate::routes::{
    appeals, cases, claims, feeds, health, login, pass, people, policy, returns, scans, transfers,
    venues,
};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "healthcode node API",
        description = "A regional digital health code (健康码). Operations of GB/T 38963: health declaration \
(`declaration` tag), trip declaration, health-information query (`query`), code request and code \
verification (`code`), error correction (`correction`). Errors are `{code, message, message_zh}`.",
        license(name = "Apache-2.0")
    ),
    paths(
        policy::published,
        policy::history,
        policy::document,
        policy::propose,
        policy::dry_run,
        policy::approve,
        policy::withdraw,
        login::send_code,
        login::login,
        login::logout,
        people::me,
        people::enroll,
        people::confirm,
        people::status,
        people::search,
        people::declare,
        people::declare_trip,
        people::record_fact,
        people::audit,
        pass::issue,
        pass::verify,
        venues::register,
        venues::list,
        venues::code,
        venues::add_checkpoint,
        scans::scan,
        scans::batch,
        scans::checkin,
        scans::person_visits,
        scans::venue_visits,
        scans::confirm_visit,
        appeals::file,
        appeals::of_person,
        appeals::open,
        appeals::decide,
        appeals::override_appeal,
        claims::file,
        claims::list,
        claims::decide,
        appeals::submit_batch,
        appeals::awaiting,
        appeals::batch,
        appeals::approve,
        cases::record_case,
        cases::trace,
        cases::retrace,
        cases::notifications,
        feeds::lab_results,
        feeds::itinerary,
        feeds::propose_risk_area,
        feeds::published,
        transfers::grant,
        transfers::list,
        transfers::transfer,
        returns::apply,
        returns::queue,
        returns::one,
        returns::call,
        returns::decide,
        returns::of_person,
        returns::bookings_of,
        returns::eligibility,
        returns::report_booking,
        returns::arrival,
        returns::handoff,
        returns::handoff_by_pass,
        returns::observation,
        returns::figures,
        health::healthz,
        health::readyz,
        health::metrics,
    ),
    components(schemas(crate::usecases::feeds::LabResult, crate::usecases::feeds::Itinerary)),
    modifiers(&BearerAuth, &CommonResponses)
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A staff or department API token (`healthcode accounts create`), or a resident session token (`hs_…`) from /api/v1/auth/login; a session ends at POST /api/v1/auth/logout",
                    ))
                    .build(),
            ),
        );
    }
}

/// The answers every operation of a kind can give, added where its own annotation leaves them
/// out, so the document lists each status the node really returns: an unreadable body, path or
/// query; a missing or refused token; an unknown id; shedding under load.
struct CommonResponses;

impl Modify for CommonResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::path::ParameterIn;
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let error = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build()
        };
        for (path, item) in openapi.paths.paths.iter_mut() {
            let health = matches!(path.as_str(), "/healthz" | "/readyz" | "/metrics");
            let operations = [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.delete,
                &mut item.patch,
            ];
            for operation in operations.into_iter().flatten() {
                let params = operation.parameters.as_deref().unwrap_or_default();
                let in_path = params
                    .iter()
                    .any(|p| matches!(p.parameter_in, ParameterIn::Path));
                let in_query = params
                    .iter()
                    .any(|p| matches!(p.parameter_in, ParameterIn::Query));
                let mut common: Vec<(&str, &str)> = Vec::new();
                if operation.request_body.is_some() {
                    common.extend([
                        ("400", "bad_json: the body is not JSON"),
                        ("413", "too_large: the body is larger than the node takes"),
                        (
                            "415",
                            "content_type: the body is not sent as application/json",
                        ),
                        (
                            "422",
                            "invalid_body, or a field the node refuses: the code says which",
                        ),
                    ]);
                }
                if in_path {
                    common.extend([
                        ("400", "bad_path: a path parameter cannot be read"),
                        ("404", "not_found: nothing has this id"),
                    ]);
                }
                if in_query {
                    common.push(("400", "bad_query: the query string cannot be read"));
                }
                if operation.security.is_some() {
                    common.extend([
                        ("401", "unauthorized: no valid bearer token or session"),
                        ("403", "forbidden: the caller's role may not do this"),
                    ]);
                }
                if !health {
                    common.push((
                        "503",
                        "overloaded: the node is at capacity for this class of request; try again after Retry-After",
                    ));
                }
                for (status, description) in common {
                    operation
                        .responses
                        .responses
                        .entry(status.to_owned())
                        .or_insert_with(|| error(description).into());
                }
            }
        }
    }
}

/// The document as JSON.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
