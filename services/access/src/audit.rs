//! `audit_log`: one append-only row per state change made through the API or at the command
//! line (who, what, on which ids, with which outcome, under which request id), and its listing,
//! newest first, with filters.

use chrono::{DateTime, SubsecRound, Utc};
use diesel::pg::PgConnection;
use diesel::prelude::*;
use gpubill_domain::access::{Principal, Role};
use gpubill_schema::schema::audit_log;
use serde::Serialize;
use std::collections::BTreeMap;
use uuid::Uuid;

/// Who made a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// A request with an API key.
    Key {
        id: Uuid,
        role: Role,
        tenant: Option<String>,
    },
    /// An operator at the command line (`cli:<user>`), who holds the database's credentials.
    Operator(String),
}

impl Actor {
    pub fn of(principal: &Principal) -> Actor {
        Actor::Key {
            id: principal.key_id,
            role: principal.role,
            tenant: principal.binding.tenant().map(str::to_owned),
        }
    }

    /// The operator running this process: `cli:<login name>`.
    pub fn operator() -> Actor {
        let user = ["USER", "LOGNAME"]
            .iter()
            .find_map(|name| std::env::var(name).ok().filter(|user| !user.is_empty()))
            .unwrap_or_else(|| "unknown".to_owned());
        Actor::Operator(format!("cli:{user}"))
    }

    /// How the actor is named as a key's creator: `key:<uuid>` or `cli:<user>`.
    pub fn name(&self) -> String {
        match self {
            Actor::Key { id, .. } => format!("key:{id}"),
            Actor::Operator(name) => name.clone(),
        }
    }
}

/// One change, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub at: DateTime<Utc>,
    pub request_id: Uuid,
    pub actor: Actor,
    /// `POST /v1/invoices/{number}/void`, or the command (`gpubill close`).
    pub action: String,
    /// The tenant concerned, when there is one.
    pub target_tenant: Option<String>,
    /// Every id the request named (path parameters) or created.
    pub targets: BTreeMap<String, String>,
    /// The HTTP status answered; for a command 200 (done) or 500 (failed).
    pub status: u16,
}

pub fn append(conn: &mut PgConnection, record: &AuditRecord) -> QueryResult<()> {
    let (key_id, key_role, key_tenant, operator) = match &record.actor {
        Actor::Key { id, role, tenant } => (Some(*id), Some(role.code()), tenant.clone(), None),
        Actor::Operator(name) => (None, None, None, Some(name.clone())),
    };
    let targets = serde_json::Value::Object(
        record
            .targets
            .iter()
            .map(|(name, id)| (name.clone(), serde_json::Value::String(id.clone())))
            .collect(),
    );
    diesel::insert_into(audit_log::table)
        .values((
            audit_log::at.eq(record.at.trunc_subsecs(6)),
            audit_log::request_id.eq(record.request_id),
            audit_log::key_id.eq(key_id),
            audit_log::key_role.eq(key_role),
            audit_log::key_tenant_id.eq(key_tenant),
            audit_log::operator.eq(operator),
            audit_log::action.eq(&record.action),
            audit_log::target_tenant_id.eq(&record.target_tenant),
            audit_log::targets.eq(targets),
            audit_log::status.eq(record.status as i16),
        ))
        .execute(conn)
        .map(drop)
}

/// Which rows to list; every filter is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Rows whose target tenant, or whose key's tenant, is this one.
    pub tenant: Option<String>,
    pub key_id: Option<Uuid>,
    /// Exact action, e.g. `POST /v1/tenants/{tenant}/credit/grants`.
    pub action: Option<String>,
    /// `[from, to)` on `at`.
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// Only rows older than this id (the previous page's last).
    pub before_id: Option<i64>,
    pub limit: i64,
}

/// A row as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Queryable, utoipa::ToSchema)]
pub struct AuditEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub request_id: Uuid,
    pub key_id: Option<Uuid>,
    pub key_role: Option<String>,
    pub key_tenant: Option<String>,
    pub operator: Option<String>,
    pub action: String,
    pub target_tenant: Option<String>,
    pub targets: serde_json::Value,
    pub status: i16,
}

/// Rows matching `filter`, newest first.
pub fn list(conn: &mut PgConnection, filter: &AuditFilter) -> QueryResult<Vec<AuditEntry>> {
    let mut query = audit_log::table
        .select((
            audit_log::id,
            audit_log::at,
            audit_log::request_id,
            audit_log::key_id,
            audit_log::key_role,
            audit_log::key_tenant_id,
            audit_log::operator,
            audit_log::action,
            audit_log::target_tenant_id,
            audit_log::targets,
            audit_log::status,
        ))
        .order(audit_log::id.desc())
        .limit(filter.limit)
        .into_boxed();
    if let Some(tenant) = &filter.tenant {
        query = query.filter(
            audit_log::target_tenant_id
                .eq(tenant.clone())
                .or(audit_log::key_tenant_id.eq(tenant.clone())),
        );
    }
    if let Some(key_id) = filter.key_id {
        query = query.filter(audit_log::key_id.eq(key_id));
    }
    if let Some(action) = &filter.action {
        query = query.filter(audit_log::action.eq(action.clone()));
    }
    if let Some(from) = filter.from {
        query = query.filter(audit_log::at.ge(from));
    }
    if let Some(to) = filter.to {
        query = query.filter(audit_log::at.lt(to));
    }
    if let Some(before_id) = filter.before_id {
        query = query.filter(audit_log::id.lt(before_id));
    }
    query.load(conn)
}

/// Writes the audit row of a command an operator ran (`gpubill close`, `gpubill keys create`):
/// status 200 when it did all it was asked, 500 when part of it failed.
pub fn append_command(
    conn: &mut PgConnection,
    action: &str,
    tenant: Option<String>,
    mut targets: BTreeMap<String, String>,
    succeeded: bool,
) -> QueryResult<()> {
    if let Some(tenant) = &tenant {
        targets.insert("tenant".into(), tenant.clone());
    }
    append(
        conn,
        &AuditRecord {
            at: Utc::now(),
            request_id: Uuid::new_v4(),
            actor: Actor::operator(),
            action: action.to_owned(),
            target_tenant: tenant,
            targets,
            status: if succeeded { 200 } else { 500 },
        },
    )
}
