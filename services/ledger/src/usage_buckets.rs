//! Rated usage in buckets of time, for the FOCUS export and the usage series: GPU-seconds per
//! allocation, SKU, price class and list price, per hour or per day of the tenant's time zone,
//! read row by row. The aggregator writes `rated_usage` (`aggregator::store`); this module only
//! reads it.
//!
//! A rated segment crossing a bucket boundary is split in proportion to the time on each side
//! (a segment is one stretch of one GPU's metering at one price, so its use is even over it).
//! Each bucket's GPU-seconds are rounded to 9 places in SQL, and the totals per tenant, SKU and
//! class ([`bucket_totals`]) are sums of those same rounded values, so a cost spread over the
//! buckets in proportion to their seconds adds up exactly.

use crate::LedgerError;
use chrono::{DateTime, NaiveDate, Utc};
use diesel::pg::{PgConnection, PgRowByRowLoadingMode};
use diesel::prelude::*;
use diesel::sql_types::{Date, Nullable, Numeric, Text, Timestamptz};
use rust_decimal::Decimal;

/// One bucket of one allocation's usage.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct UsageBucket {
    #[diesel(sql_type = Text)]
    pub tenant_id: String,
    #[diesel(sql_type = Text)]
    pub allocation_id: String,
    #[diesel(sql_type = Text)]
    pub sku: String,
    #[diesel(sql_type = Text)]
    pub price_class: String,
    #[diesel(sql_type = Numeric)]
    pub list_price: Decimal,
    /// The bucket's first instant (an hour, or midnight in the tenant's time zone).
    #[diesel(sql_type = Timestamptz)]
    pub start: DateTime<Utc>,
    #[diesel(sql_type = Numeric)]
    pub gpu_seconds: Decimal,
    /// The nodes the usage ran on, space separated, in order.
    #[diesel(sql_type = Text)]
    pub nodes: String,
    /// GPUs (or MIG instances) that were used in the bucket.
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub gpus: i64,
}

/// Usage per tenant, SKU and class: the sum of its buckets' rounded seconds.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct BucketTotal {
    #[diesel(sql_type = Text)]
    pub tenant_id: String,
    #[diesel(sql_type = Text)]
    pub sku: String,
    #[diesel(sql_type = Text)]
    pub price_class: String,
    #[diesel(sql_type = Numeric)]
    pub gpu_seconds: Decimal,
}

/// The buckets' SQL: `$1` the period (its first day), `$2` a tenant or NULL for all, `$3`
/// `hour` or `day`.
const BUCKETS: &str = "
    WITH hourly AS (
        SELECT r.tenant_id, r.allocation_id, r.sku, r.price_class,
               r.price_per_gpu_hour AS list_price, t.time_zone, h.start AS hour_start,
               u.node_id, r.gpu_uuid,
               r.gpu_seconds
                 * extract(epoch FROM least(r.segment_end, h.start + interval '1 hour')
                                      - greatest(r.segment_start, h.start))
                 / extract(epoch FROM r.segment_end - r.segment_start) AS gpu_seconds
        FROM rated_usage r
        JOIN tenants t ON t.tenant_id = r.tenant_id
        JOIN usage_runs u USING (allocation_id, gpu_uuid, first_seq)
        CROSS JOIN LATERAL generate_series(
            date_trunc('hour', r.segment_start, t.time_zone),
            r.segment_end - interval '1 microsecond',
            interval '1 hour') AS h(start)
        WHERE r.period = $1 AND ($2::text IS NULL OR r.tenant_id = $2)
          AND r.segment_end > r.segment_start
    )
    SELECT tenant_id, allocation_id, sku, price_class, list_price,
           CASE WHEN $3 = 'day' THEN date_trunc('day', hour_start, time_zone)
                ELSE hour_start END AS start,
           round(sum(gpu_seconds), 9) AS gpu_seconds,
           string_agg(DISTINCT node_id, ' ' ORDER BY node_id) AS nodes,
           count(DISTINCT gpu_uuid) AS gpus
    FROM hourly
    GROUP BY 1, 2, 3, 4, 5, 6
";

/// Calls `visit` with every bucket of `period`'s usage (of `tenant`, or of every tenant),
/// ordered by tenant, allocation, SKU, class, price and time, reading one row at a time.
pub fn for_each_bucket<E: From<LedgerError>>(
    conn: &mut PgConnection,
    period: NaiveDate,
    tenant: Option<&str>,
    grain: &str,
    mut visit: impl FnMut(UsageBucket) -> Result<(), E>,
) -> Result<(), E> {
    let rows = diesel::sql_query(format!("{BUCKETS} ORDER BY 1, 2, 3, 4, 5, 6"))
        .bind::<Date, _>(period)
        .bind::<Nullable<Text>, _>(tenant)
        .bind::<Text, _>(grain)
        .load_iter::<UsageBucket, PgRowByRowLoadingMode>(conn)
        .map_err(LedgerError::from)?;
    for row in rows {
        visit(row.map_err(LedgerError::from)?)?;
    }
    Ok(())
}

/// The seconds of `period`'s buckets summed per tenant, SKU and class.
pub fn bucket_totals(
    conn: &mut PgConnection,
    period: NaiveDate,
    tenant: Option<&str>,
    grain: &str,
) -> Result<Vec<BucketTotal>, LedgerError> {
    Ok(diesel::sql_query(format!(
        "SELECT tenant_id, sku, price_class, sum(gpu_seconds) AS gpu_seconds
         FROM ({BUCKETS}) buckets GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
    ))
    .bind::<Date, _>(period)
    .bind::<Nullable<Text>, _>(tenant)
    .bind::<Text, _>(grain)
    .load(conn)?)
}

/// Buckets in `period`: the total a progress bar counts to.
pub fn bucket_count(
    conn: &mut PgConnection,
    period: NaiveDate,
    tenant: Option<&str>,
    grain: &str,
) -> Result<u64, LedgerError> {
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        count: i64,
    }
    let count: Count = diesel::sql_query(format!("SELECT count(*) AS count FROM ({BUCKETS}) b"))
        .bind::<Date, _>(period)
        .bind::<Nullable<Text>, _>(tenant)
        .bind::<Text, _>(grain)
        .get_result(conn)?;
    Ok(count.count.unsigned_abs())
}

/// What [`window_buckets`] reads: whose usage, over which window, in which buckets.
pub struct BucketQuery<'a> {
    pub tenant: &'a str,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// `hour`, `day` or `month` of the tenant's time zone.
    pub span: &'a str,
    /// Only this allocation's usage.
    pub allocation: Option<&'a str>,
    /// Keep allocations apart; otherwise `allocation_id` is empty and buckets hold every one
    /// (a month of a large tenant is tens of thousands of bucket-allocation pairs).
    pub by_allocation: bool,
}

/// A tenant's metered usage in `[from, to)`, per allocation (when asked), SKU, class, list price
/// and bucket; segments cut by the window count their part inside it, in proportion to time.
pub fn window_buckets(
    conn: &mut PgConnection,
    query: &BucketQuery<'_>,
) -> Result<Vec<gpubill_domain::usage_series::MeteredBucket>, LedgerError> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = Timestamptz)]
        start: DateTime<Utc>,
        #[diesel(sql_type = Text)]
        allocation_id: String,
        #[diesel(sql_type = Text)]
        sku: String,
        #[diesel(sql_type = Text)]
        price_class: String,
        #[diesel(sql_type = Numeric)]
        list_price: Decimal,
        #[diesel(sql_type = Numeric)]
        gpu_seconds: Decimal,
    }
    // A segment inside one bucket (nearly all: a run lasts a batch) counts whole, or its part
    // inside the window; only one that crosses a bucket's edge is split, hour by hour of the
    // tenant's time zone, in proportion to time.
    let rows: Vec<Row> = diesel::sql_query(
        "WITH clipped AS (
             SELECT CASE WHEN $6 THEN r.allocation_id ELSE '' END AS allocation_id,
                    r.sku, r.price_class, r.price_per_gpu_hour AS list_price,
                    t.time_zone, r.segment_start, r.segment_end, r.gpu_seconds,
                    greatest(r.segment_start, $2) AS lo, least(r.segment_end, $3) AS hi,
                    date_trunc($4, greatest(r.segment_start, $2), t.time_zone) AS first_bucket,
                    date_trunc($4, least(r.segment_end, $3) - interval '1 microsecond', t.time_zone)
                      AS last_bucket
             FROM rated_usage r
             JOIN tenants t ON t.tenant_id = r.tenant_id
             WHERE r.tenant_id = $1 AND r.segment_start < $3 AND r.segment_end > $2
               AND r.segment_end > r.segment_start
               AND ($5::text IS NULL OR r.allocation_id = $5)
         ),
         pieces AS (
             SELECT allocation_id, sku, price_class, list_price, first_bucket AS start,
                    CASE WHEN lo = segment_start AND hi = segment_end THEN gpu_seconds
                         ELSE gpu_seconds * extract(epoch FROM hi - lo)
                              / extract(epoch FROM segment_end - segment_start) END AS gpu_seconds
             FROM clipped
             WHERE first_bucket = last_bucket
             UNION ALL
             SELECT c.allocation_id, c.sku, c.price_class, c.list_price,
                    date_trunc($4, h.start, c.time_zone) AS start,
                    c.gpu_seconds
                      * extract(epoch FROM least(c.hi, h.start + interval '1 hour')
                                           - greatest(c.lo, h.start))
                      / extract(epoch FROM c.segment_end - c.segment_start) AS gpu_seconds
             FROM clipped c
             CROSS JOIN LATERAL generate_series(
                 date_trunc('hour', c.lo, c.time_zone),
                 c.hi - interval '1 microsecond',
                 interval '1 hour') AS h(start)
             WHERE c.first_bucket <> c.last_bucket
         )
         SELECT start, allocation_id, sku, price_class, list_price, sum(gpu_seconds) AS gpu_seconds
         FROM pieces
         GROUP BY 1, 2, 3, 4, 5
         ORDER BY 1, 2, 3, 4, 5",
    )
    .bind::<Text, _>(query.tenant)
    .bind::<Timestamptz, _>(query.from)
    .bind::<Timestamptz, _>(query.to)
    .bind::<Text, _>(query.span)
    .bind::<diesel::sql_types::Nullable<Text>, _>(query.allocation)
    .bind::<diesel::sql_types::Bool, _>(query.by_allocation)
    .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|row| gpubill_domain::usage_series::MeteredBucket {
            start: row.start,
            allocation_id: row.allocation_id,
            sku: row.sku,
            price_class: row.price_class,
            list_price: row.list_price,
            gpu_seconds: row.gpu_seconds,
        })
        .collect())
}

/// The tenant's usage series over `[from, to)`: buckets of `granularity` in its time zone, split
/// by `group_by` (gather here, compose in `gpubill_domain::usage_series`).
pub fn usage_series(
    conn: &mut PgConnection,
    tenant_id: &str,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
    granularity: gpubill_schema::api::usage::Granularity,
    group_by: &[gpubill_schema::api::usage::UsageDimension],
    allocation: Option<&str>,
    currency: &str,
) -> Result<gpubill_schema::api::usage::UsageSeries, LedgerError> {
    use gpubill_domain::usage_series::{Grouping, Span, series};
    use gpubill_schema::api::usage::{Granularity, UsageBucketView, UsageDimension, UsageSeries};
    let time_zone = crate::invoicing::tenant_time_zone(conn, tenant_id)?;
    let metered = window_buckets(
        conn,
        &BucketQuery {
            tenant: tenant_id,
            from,
            to,
            span: granularity.code(),
            allocation,
            by_allocation: group_by.contains(&UsageDimension::Allocation),
        },
    )?;
    let span = match granularity {
        Granularity::Hour => Span::Hour,
        Granularity::Day => Span::Day,
        Granularity::Month => Span::Month,
    };
    let grouping = Grouping {
        sku: group_by.contains(&UsageDimension::Sku),
        price_class: group_by.contains(&UsageDimension::PriceClass),
        allocation: group_by.contains(&UsageDimension::Allocation),
    };
    let (buckets, total_gpu_seconds, total_amount) = series(metered, grouping, span, time_zone);
    Ok(UsageSeries {
        tenant_id: tenant_id.to_owned(),
        from,
        to,
        time_zone: time_zone.name().to_owned(),
        granularity,
        group_by: group_by.to_vec(),
        allocation_id: allocation.map(str::to_owned),
        currency: currency.to_owned(),
        buckets: buckets
            .into_iter()
            .map(|bucket| UsageBucketView {
                start: bucket.start,
                end: bucket.end,
                sku: bucket.sku,
                price_class: bucket.price_class,
                allocation_id: bucket.allocation_id,
                gpu_seconds: bucket.gpu_seconds,
                amount: bucket.amount,
            })
            .collect(),
        total_gpu_seconds,
        total_amount,
    })
}
