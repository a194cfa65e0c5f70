//! People: enrollment under a document (or by a guardian), with personal data sealed.

use crate::audit::{self, Actor};
use crate::{FactStamp, Store, StoreError, db, from_ms, ms, new_id, unique_violation};
use healthcode_core::identity::{Document, DocumentKind, mask_name};
use serde::Serialize;
use std::collections::HashMap;
use time::OffsetDateTime;

/// Whether the person's identity has been confirmed; a pending enrollment shows as 审核中 and is
/// never a green code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Enrollment {
    Pending,
    Confirmed,
}

impl Enrollment {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Enrollment::Pending => "pending",
            Enrollment::Confirmed => "confirmed",
        }
    }

    fn parse(s: &str) -> Enrollment {
        if s == "confirmed" {
            Enrollment::Confirmed
        } else {
            Enrollment::Pending
        }
    }
}

#[derive(Debug, Clone)]
pub struct NewPerson {
    pub document: Document,
    pub name: String,
    pub phone: Option<String>,
    pub guardian_id: Option<String>,
    pub enrollment: Enrollment,
}

/// What the node shows about a person without opening sealed data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Person {
    pub id: String,
    pub pseudonym: String,
    pub document_kind: DocumentKind,
    pub document_tail: Option<String>,
    pub name_masked: String,
    pub guardian_id: Option<String>,
    pub enrollment: Enrollment,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// A resident session as one read finds it: the phone behind it, the people who log in with
/// that phone, and each one's fact stamp as it stood at that read.
#[derive(Debug, Clone)]
pub struct SessionPeople {
    pub phone_index: Vec<u8>,
    pub people: Vec<Person>,
    pub stamps: HashMap<String, FactStamp>,
}

/// A person with their sealed data opened; every read of it is audited.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PersonDetail {
    #[serde(flatten)]
    pub person: Person,
    pub name: String,
    pub document_number: Option<String>,
    pub phone: Option<String>,
}

type PersonRow = (
    String,
    String,
    String,
    Option<String>,
    String,
    Option<String>,
    String,
    i64,
    Vec<u8>,
    Option<Vec<u8>>,
    Option<Vec<u8>>,
);

const SELECT_PERSON: &str = "SELECT id, pseudonym, document_kind, document_tail, name_masked, guardian_id, \
     enrollment, created_at, name_sealed, document_sealed, phone_sealed FROM people";

/// The columns a new person's row fills, in the order `bind_person` binds them.
pub(crate) const PERSON_COLUMNS: &str = "id, pseudonym, document_kind, document_index, document_sealed, \
     document_tail, name_sealed, name_masked, phone_index, phone_sealed, guardian_id, enrollment, created_at";

/// A new person's sealed data and blind indexes.
pub(crate) struct SealedPerson {
    pub(crate) document_index: Option<Vec<u8>>,
    pub(crate) document_sealed: Option<Vec<u8>>,
    pub(crate) name_sealed: Vec<u8>,
    pub(crate) phone_index: Option<Vec<u8>>,
    pub(crate) phone_sealed: Option<Vec<u8>>,
}

/// Binds one row of `PERSON_COLUMNS` to a query, on either backend (inside `with_pool!`).
macro_rules! bind_person {
    ($q:expr, $person:expr, $sealed:expr) => {
        $q.bind(&$person.id)
            .bind(&$person.pseudonym)
            .bind($crate::people::kind_str($person.document_kind))
            .bind(&$sealed.document_index)
            .bind(&$sealed.document_sealed)
            .bind(&$person.document_tail)
            .bind(&$sealed.name_sealed)
            .bind(&$person.name_masked)
            .bind(&$sealed.phone_index)
            .bind(&$sealed.phone_sealed)
            .bind(&$person.guardian_id)
            .bind($person.enrollment.as_str())
            .bind($crate::ms($person.created_at))
    };
}
pub(crate) use bind_person;

pub(crate) fn kind_str(kind: DocumentKind) -> String {
    serde_json::to_value(kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn person_from(row: &PersonRow) -> Result<Person, StoreError> {
    let kind: DocumentKind = serde_json::from_value(serde_json::Value::String(row.2.clone()))
        .map_err(|_| StoreError::Corrupt(format!("unknown document kind {:?}", row.2)))?;
    Ok(Person {
        id: row.0.clone(),
        pseudonym: row.1.clone(),
        document_kind: kind,
        document_tail: row.3.clone(),
        name_masked: row.4.clone(),
        guardian_id: row.5.clone(),
        enrollment: Enrollment::parse(&row.6),
        created_at: from_ms(row.7),
    })
}

impl Store {
    fn document_index(&self, document: &Document) -> Option<Vec<u8>> {
        (document.kind != DocumentKind::None).then(|| {
            let country = document.country.as_deref().unwrap_or("");
            let key = format!("{}|{country}|{}", kind_str(document.kind), document.number);
            self.vault.blind_index("document", &key)
        })
    }

    fn phone_index(&self, phone: &str) -> Vec<u8> {
        self.vault.blind_index("phone", phone)
    }

    /// A new person's row: personal data sealed, blind indexes computed.
    pub(crate) fn person_row(
        &self,
        id: String,
        pseudonym: String,
        new: &NewPerson,
        now: OffsetDateTime,
    ) -> (Person, SealedPerson) {
        let has_document = new.document.kind != DocumentKind::None;
        let person = Person {
            id,
            pseudonym,
            document_kind: new.document.kind,
            document_tail: has_document.then(|| new.document.tail().to_owned()),
            name_masked: mask_name(&new.name),
            guardian_id: new.guardian_id.clone(),
            enrollment: new.enrollment,
            created_at: now,
        };
        let sealed = SealedPerson {
            document_index: self.document_index(&new.document),
            document_sealed: has_document.then(|| {
                self.vault
                    .seal(new.document.number.as_bytes(), "people.document")
            }),
            name_sealed: self.vault.seal(new.name.as_bytes(), "people.name"),
            phone_index: new.phone.as_ref().map(|p| self.phone_index(p)),
            phone_sealed: new
                .phone
                .as_ref()
                .map(|p| self.vault.seal(p.as_bytes(), "people.phone")),
        };
        (person, sealed)
    }

    /// Enrolls a person. A document already enrolled is a conflict.
    pub async fn enroll(
        &self,
        new: &NewPerson,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> Result<Person, StoreError> {
        let (person, sealed) = self.person_row(new_id(), new_id(), new, now);
        let detail = format!("enrolled under {}", kind_str(new.document.kind));
        let sql = format!(
            "INSERT INTO people ({PERSON_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
        );
        db::with_pool!(&self.backend, pool => {
            let mut tx = pool.begin().await?;
            bind_person!(sqlx::query(&sql), person, sealed)
                .execute(&mut *tx)
                .await
                .map_err(|e| unique_violation(e, "this document is already enrolled"))?;
            audit::append(&mut *tx, ms(now), actor, "person.enroll", Some(person.id.clone()), detail).await?;
            tx.commit().await?;
        });
        Ok(person)
    }

    /// A person's record, without opening sealed data.
    pub async fn person(&self, id: &str) -> Result<Option<Person>, StoreError> {
        let sql = format!("{SELECT_PERSON} WHERE id = $1");
        let row: Option<PersonRow> = db::with_pool!(&self.backend, pool => {
            sqlx::query_as(&sql).bind(id).fetch_optional(pool).await?
        });
        row.as_ref().map(person_from).transpose()
    }

    /// A person with name, document number and phone opened; audited as a read of personal data.
    pub async fn person_detail(
        &self,
        id: &str,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> Result<PersonDetail, StoreError> {
        let sql = format!("{SELECT_PERSON} WHERE id = $1");
        let row: PersonRow = db::with_pool!(&self.backend, pool => {
            let mut tx = pool.begin().await?;
            audit::append(&mut *tx, ms(now), actor, "person.read", Some(id.to_owned()), String::from("identity opened")).await?;
            let row: Option<PersonRow> = sqlx::query_as(&sql).bind(id).fetch_optional(&mut *tx).await?;
            let Some(row) = row else {
                return Err(StoreError::NotFound(format!("person {id}")));
            };
            tx.commit().await?;
            row
        });
        let person = person_from(&row)?;
        Ok(PersonDetail {
            person,
            name: self.vault.open_string(&row.8, "people.name")?,
            document_number: row
                .9
                .as_deref()
                .map(|s| self.vault.open_string(s, "people.document"))
                .transpose()?,
            phone: row
                .10
                .as_deref()
                .map(|s| self.vault.open_string(s, "people.phone"))
                .transpose()?,
        })
    }

    /// The person enrolled under a document, if any.
    pub async fn find_by_document(
        &self,
        document: &Document,
    ) -> Result<Option<Person>, StoreError> {
        let Some(index) = self.document_index(document) else {
            return Ok(None);
        };
        let sql = format!("{SELECT_PERSON} WHERE document_index = $1");
        let row: Option<PersonRow> = db::with_pool!(&self.backend, pool => {
            sqlx::query_as(&sql).bind(&index).fetch_optional(pool).await?
        });
        row.as_ref().map(person_from).transpose()
    }

    /// The people who log in with a phone number: the adult and the children in their care.
    pub async fn find_by_phone(&self, phone: &str) -> Result<Vec<Person>, StoreError> {
        self.find_by_phone_index(&self.phone_index(phone)).await
    }

    /// As `find_by_phone`, from a session's blind index. Children in care are found through
    /// their guardian too, so a child staff enrolled without a phone is among them.
    pub async fn find_by_phone_index(&self, index: &[u8]) -> Result<Vec<Person>, StoreError> {
        let sql = format!(
            "{SELECT_PERSON} WHERE phone_index = $1 \
             OR guardian_id IN (SELECT id FROM people WHERE phone_index = $1) ORDER BY created_at, id"
        );
        let rows: Vec<PersonRow> = db::with_pool!(&self.backend, pool => {
            sqlx::query_as(&sql).bind(index).fetch_all(pool).await?
        });
        rows.iter().map(person_from).collect()
    }

    /// The phone index behind an unexpired resident session, the people who log in with that
    /// phone (the adult and the children in their care) and each one's fact stamp, in one read:
    /// `None` when the session is unknown or over.
    pub async fn session_people(
        &self,
        token: &str,
        now: OffsetDateTime,
    ) -> Result<Option<SessionPeople>, StoreError> {
        // The session's own row comes back once even with no one enrolled (the LEFT JOIN);
        // children in care come from the second part. Sorted and deduplicated here.
        const PERSON: &str = "p.id, p.pseudonym, p.document_kind, p.document_tail, p.name_masked, \
             p.guardian_id, p.enrollment, p.created_at, \
             (SELECT COUNT(*) FROM facts f WHERE f.person_id = p.id), \
             (SELECT MAX(f.recorded_at) FROM facts f WHERE f.person_id = p.id)";
        let sql = format!(
            "SELECT s.phone_index, {PERSON} FROM sessions s LEFT JOIN people p ON p.phone_index = s.phone_index \
             WHERE s.token_hash = $1 AND s.expires_at > $2 \
             UNION ALL \
             SELECT s.phone_index, {PERSON} FROM sessions s JOIN people g ON g.phone_index = s.phone_index \
             JOIN people p ON p.guardian_id = g.id WHERE s.token_hash = $1 AND s.expires_at > $2"
        );
        type Row = (
            Vec<u8>,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<i64>,
            i64,
            Option<i64>,
        );
        let hash = crate::accounts::secret_hash(token);
        let rows: Vec<Row> = match &self.readers {
            Some(readers) => readers.inline(|c| {
                c.prepare_cached(&sql)?
                    .query_map(rusqlite::params![hash, ms(now)], |r| Row::try_from(r))?
                    .collect()
            })?,
            None => db::with_pool!(&self.backend, pool => {
                sqlx::query_as(&sql)
                    .bind(hash)
                    .bind(ms(now))
                    .fetch_all(pool)
                    .await?
            }),
        };
        let Some(index) = rows.first().map(|r| r.0.clone()) else {
            return Ok(None);
        };
        let mut people = Vec::with_capacity(rows.len());
        let mut stamps = HashMap::with_capacity(rows.len());
        for r in rows {
            let (Some(id), Some(pseudonym), Some(kind), Some(masked), Some(enrollment), Some(at)) =
                (r.1, r.2, r.3, r.5, r.7, r.8)
            else {
                continue;
            };
            if people.iter().any(|p: &Person| p.id == id) {
                continue;
            }
            stamps.insert(id.clone(), FactStamp::counted(r.9, r.10));
            let row: PersonRow = (
                id,
                pseudonym,
                kind,
                r.4,
                masked,
                r.6,
                enrollment,
                at,
                Vec::new(),
                None,
                None,
            );
            people.push(person_from(&row)?);
        }
        people.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(Some(SessionPeople {
            phone_index: index,
            people,
            stamps,
        }))
    }

    /// Marks an enrollment confirmed (identity checked).
    pub async fn confirm_enrollment(
        &self,
        id: &str,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        db::with_pool!(&self.backend, pool => {
            let mut tx = pool.begin().await?;
            let done = sqlx::query("UPDATE people SET enrollment = 'confirmed' WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            if done.rows_affected() == 0 {
                return Err(StoreError::NotFound(format!("person {id}")));
            }
            audit::append(&mut *tx, ms(now), actor, "person.confirm", Some(id.to_owned()), String::from("identity confirmed")).await?;
            tx.commit().await?;
        });
        Ok(())
    }
}
