//! A tenant's month at a glance (`GET /v1/tenants/{tenant}/overview`): gathers the live draft
//! invoice and the credit balance from the ledger and the quota standing from the scheduler's
//! memory, and puts them together; the gauges and the projection are decided in
//! `gpubill_domain::standing`.

use crate::AppState;
use crate::error::ApiError;
use chrono::{DateTime, Utc};
use gpubill_domain::standing::{meter, project_month_end, projected_invoice};
use gpubill_domain::{BillingPeriod, VatCategory};
use gpubill_ledger::credits::credit_balance;
use gpubill_ledger::invoicing::{draft_invoice, tenant_time_zone};
use gpubill_platform::db::with_conn;
use gpubill_scheduler::{SchedulerError, Standing};
use gpubill_schema::api::invoice::InvoiceView;
use gpubill_schema::api::portal::{
    ConcurrencyGauge, MonthToDate, Overview, Projection, QuotaStanding,
};
use rust_decimal::Decimal;

/// GPU-hours on a gauge: six places, half-even, as the API's other hours.
const HOUR_PLACES: u32 = 6;

/// What the ledger says of the tenant's current month.
struct LedgerPart {
    period: BillingPeriod,
    time_zone: String,
    period_start: DateTime<Utc>,
    period_end: DateTime<Utc>,
    draft: InvoiceView,
    credit_balance: Decimal,
}

/// The overview of `tenant` at `now`.
pub async fn overview(
    state: &AppState,
    tenant: String,
    now: DateTime<Utc>,
) -> Result<Overview, ApiError> {
    let standing = match state.scheduler.standing(&tenant, now) {
        Ok(standing) => Some(standing),
        Err(SchedulerError::NotLeader) => None,
        // A tenant of the database that cluster.toml no longer lists has no quota.
        Err(SchedulerError::UnknownTenant(_)) => None,
        Err(error) => return Err(error.into()),
    };
    let currency = state.currency.clone();
    let id = tenant.clone();
    let ledger = with_conn(&state.pool, move |conn| {
        // An unknown tenant has no time zone: 404 tenant_not_found.
        let zone = tenant_time_zone(conn, &id)?;
        let period = BillingPeriod::containing_in(now, zone);
        Ok::<_, ApiError>(LedgerPart {
            period,
            time_zone: zone.name().to_owned(),
            period_start: period.start_in(zone),
            period_end: period.end_in(zone),
            draft: draft_invoice(conn, &id, period, &currency)?,
            credit_balance: credit_balance(conn, &id)?,
        })
    })
    .await?;
    let tenant_name = state
        .cluster
        .tenants
        .iter()
        .find(|spec| spec.id == tenant)
        .map_or_else(|| tenant.clone(), |spec| spec.name.clone());
    compose(tenant, tenant_name, ledger, standing.as_ref(), now)
}

fn compose(
    tenant_id: String,
    tenant_name: String,
    ledger: LedgerPart,
    standing: Option<&Standing>,
    now: DateTime<Utc>,
) -> Result<Overview, ApiError> {
    let draft = &ledger.draft;
    let projected = match standing {
        Some(standing) => {
            let month_end = project_month_end(&standing.running, now, ledger.period_end);
            let category: VatCategory = draft.vat_category.parse().map_err(|_| {
                ApiError::Internal(format!("the draft's VAT category `{}`", draft.vat_category))
            })?;
            let invoice = projected_invoice(draft.net_total, &month_end, category, draft.vat_rate)
                .map_err(|error| ApiError::Internal(format!("projection: {error}")))?;
            Some(Projection {
                net: invoice.net_total,
                vat: invoice.vat_total,
                total: invoice.total,
                run_rate_per_hour: month_end.run_rate_per_hour,
            })
        }
        None => None,
    };
    Ok(Overview {
        tenant_id,
        tenant_name,
        currency: draft.currency.clone(),
        time_zone: ledger.time_zone,
        period: ledger.period.to_string(),
        period_start: ledger.period_start,
        period_end: ledger.period_end,
        as_of: now,
        month_to_date: MonthToDate {
            gpu_seconds: draft
                .lines
                .iter()
                .filter(|line| !line.adjustment)
                .map(|line| line.gpu_seconds)
                .sum::<Decimal>()
                .normalize(),
            net: draft.net_total,
            vat: draft.vat_total,
            total: draft.total,
            credit_applied: draft.credit_applied,
            amount_due: draft.amount_due,
        },
        projected,
        credit_balance: ledger.credit_balance,
        quota: standing.map(quota_standing),
        running_allocations: standing.map(|standing| standing.running_allocations),
    })
}

fn quota_standing(standing: &Standing) -> QuotaStanding {
    let (limits, load) = (&standing.limits, &standing.load);
    QuotaStanding {
        budget: limits
            .budget_per_month
            .map(|cap| meter(cap, load.spend).into()),
        gpu_hours: limits.gpu_hours_per_month.map(|cap| {
            let used = (load.gpu_hours_used).round_dp(HOUR_PLACES).normalize();
            meter(cap, used).into()
        }),
        concurrent: limits
            .concurrent
            .iter()
            .map(|(sku, cap)| ConcurrencyGauge {
                sku: sku.clone(),
                gauge: meter(
                    Decimal::from(*cap),
                    Decimal::from(load.concurrent.get(sku).copied().unwrap_or(0)),
                )
                .into(),
            })
            .collect(),
        open_holds: load.open_holds,
        ledger_as_of: standing.ledger_as_of,
    }
}
