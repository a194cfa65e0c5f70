//! The OpenAPI 3.1 document, generated from the handlers' annotations and the types they take and
//! return; served at /api/v1/openapi.json.

use crate::routes::{appeals, cases, feeds, health, login, pass, people, policy, scans, venues};
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
        health::healthz,
        health::readyz,
        health::metrics,
    ),
    modifiers(&BearerAuth)
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

/// The document as JSON.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
