//! Partition ownership among aggregator instances: leases in Postgres, renewed by a heartbeat and
//! by every batch commit, shared evenly among the live instances, and taken over (with a new
//! epoch) when they expire. The commit of a batch is fenced by the epoch: see [`fence`].

use crate::error::AggregatorError;
use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Integer, Text};
use std::collections::BTreeMap;

/// Partitions an instance owns, with the epoch it owns each at.
pub type Owned = BTreeMap<i32, i64>;

/// Who is asking, for which topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The consumer name offsets are stored under; instances sharing it share the partitions.
    pub consumer: String,
    pub topic: String,
    pub instance_id: String,
    pub partitions: i32,
    /// How long a lease lasts without renewal; also how long an instance counts as live after
    /// its last heartbeat.
    pub lease_seconds: i64,
}

/// How many partitions each live instance should own: an even split, rounded up.
pub fn fair_share(partitions: i32, live_instances: i64) -> usize {
    let partitions = usize::try_from(partitions).unwrap_or(0);
    let live = usize::try_from(live_instances.max(1)).unwrap_or(1);
    partitions.div_ceil(live)
}

/// One heartbeat, in one transaction: registers the instance as live, renews the leases it still
/// holds (a lease taken over by another instance is gone, whatever `owned` says), releases what
/// exceeds its fair share and claims free or expired partitions up to it. Returns what it owns
/// now. Postgres' clock is the only clock leases are compared with.
pub fn heartbeat(
    conn: &mut PgConnection,
    member: &Member,
    owned: &Owned,
) -> Result<Owned, AggregatorError> {
    conn.transaction(|conn| {
        diesel::sql_query(
            "INSERT INTO aggregator_instances (consumer, instance_id, heartbeat_at) \
             VALUES ($1, $2, now()) \
             ON CONFLICT (consumer, instance_id) DO UPDATE SET heartbeat_at = now()",
        )
        .bind::<Text, _>(&member.consumer)
        .bind::<Text, _>(&member.instance_id)
        .execute(conn)?;
        // Instances silent for ten lease times are forgotten; live ones renewed within one.
        diesel::sql_query(
            "DELETE FROM aggregator_instances \
             WHERE consumer = $1 AND heartbeat_at < now() - make_interval(secs => $2 * 10)",
        )
        .bind::<Text, _>(&member.consumer)
        .bind::<BigInt, _>(member.lease_seconds)
        .execute(conn)?;
        let live: Count = diesel::sql_query(
            "SELECT count(*) AS count FROM aggregator_instances \
             WHERE consumer = $1 AND heartbeat_at >= now() - make_interval(secs => $2)",
        )
        .bind::<Text, _>(&member.consumer)
        .bind::<BigInt, _>(member.lease_seconds)
        .get_result(conn)?;

        let (partitions, epochs): (Vec<i32>, Vec<i64>) = owned.iter().unzip();
        let kept: Vec<Lease> = diesel::sql_query(
            "UPDATE partition_leases l SET expires_at = now() + make_interval(secs => $4) \
             FROM unnest($5::int4[], $6::int8[]) AS k(partition, owner_epoch) \
             WHERE l.consumer = $1 AND l.topic = $2 AND l.owner = $3 \
               AND (l.partition, l.owner_epoch) = (k.partition, k.owner_epoch) \
             RETURNING l.partition, l.owner_epoch",
        )
        .bind::<Text, _>(&member.consumer)
        .bind::<Text, _>(&member.topic)
        .bind::<Text, _>(&member.instance_id)
        .bind::<BigInt, _>(member.lease_seconds)
        .bind::<Array<Integer>, _>(&partitions)
        .bind::<Array<BigInt>, _>(&epochs)
        .load(conn)?;
        let mut now_owned: Owned = kept
            .into_iter()
            .map(|lease| (lease.partition, lease.owner_epoch))
            .collect();

        let fair = fair_share(member.partitions, live.count);
        if now_owned.len() > fair {
            let released: Vec<i32> = now_owned.keys().rev().take(now_owned.len() - fair).copied().collect();
            release(conn, member, &released)?;
            for partition in released {
                now_owned.remove(&partition);
            }
        } else if now_owned.len() < fair {
            let held: Vec<i32> = now_owned.keys().copied().collect();
            let wanted = i64::try_from(fair - now_owned.len()).unwrap_or(0);
            let candidates: Vec<PartitionRow> = diesel::sql_query(
                "SELECT p AS partition FROM generate_series(0, $3 - 1) AS p \
                 LEFT JOIN partition_leases l \
                   ON (l.consumer, l.topic, l.partition) = ($1, $2, p) \
                 WHERE NOT p = ANY($5::int4[]) \
                   AND (l.partition IS NULL OR l.expires_at < now() OR l.owner = $4) \
                 ORDER BY p LIMIT $6",
            )
            .bind::<Text, _>(&member.consumer)
            .bind::<Text, _>(&member.topic)
            .bind::<Integer, _>(member.partitions)
            .bind::<Text, _>(&member.instance_id)
            .bind::<Array<Integer>, _>(&held)
            .bind::<BigInt, _>(wanted)
            .load(conn)?;
            for candidate in candidates {
                // Claims only if still free or expired (or left by an earlier life of this
                // instance): a concurrent claimer or a renewing commit wins otherwise.
                let claimed: Vec<Lease> = diesel::sql_query(
                    "INSERT INTO partition_leases AS l (consumer, topic, partition, owner, owner_epoch, expires_at) \
                     VALUES ($1, $2, $3, $4, 1, now() + make_interval(secs => $5)) \
                     ON CONFLICT (consumer, topic, partition) DO UPDATE \
                     SET owner = EXCLUDED.owner, owner_epoch = l.owner_epoch + 1, expires_at = EXCLUDED.expires_at \
                     WHERE l.expires_at < now() OR l.owner = EXCLUDED.owner \
                     RETURNING l.partition, l.owner_epoch",
                )
                .bind::<Text, _>(&member.consumer)
                .bind::<Text, _>(&member.topic)
                .bind::<Integer, _>(candidate.partition)
                .bind::<Text, _>(&member.instance_id)
                .bind::<BigInt, _>(member.lease_seconds)
                .load(conn)?;
                now_owned.extend(claimed.into_iter().map(|lease| (lease.partition, lease.owner_epoch)));
            }
        }
        Ok(now_owned)
    })
}

/// Gives up `partitions` at once (their leases expire now), so another instance can claim them
/// without waiting for the lease time.
pub fn release(
    conn: &mut PgConnection,
    member: &Member,
    partitions: &[i32],
) -> Result<(), AggregatorError> {
    diesel::sql_query(
        "UPDATE partition_leases SET expires_at = now() - interval '1 second' \
         WHERE consumer = $1 AND topic = $2 AND owner = $3 AND partition = ANY($4::int4[])",
    )
    .bind::<Text, _>(&member.consumer)
    .bind::<Text, _>(&member.topic)
    .bind::<Text, _>(&member.instance_id)
    .bind::<Array<Integer>, _>(partitions)
    .execute(conn)?;
    Ok(())
}

/// Leaves the group: releases every partition and removes the instance, so the others take over
/// at their next heartbeat.
pub fn leave(
    conn: &mut PgConnection,
    member: &Member,
    owned: &Owned,
) -> Result<(), AggregatorError> {
    conn.transaction(|conn| {
        let partitions: Vec<i32> = owned.keys().copied().collect();
        release(conn, member, &partitions)?;
        diesel::sql_query(
            "DELETE FROM aggregator_instances WHERE consumer = $1 AND instance_id = $2",
        )
        .bind::<Text, _>(&member.consumer)
        .bind::<Text, _>(&member.instance_id)
        .execute(conn)?;
        Ok(())
    })
}

/// Inside a batch's transaction: renews the lease of every partition the batch commits offsets
/// for, but only where this instance still owns it at the epoch it claimed it with. A partition
/// taken over in the meantime fails the transaction with [`AggregatorError::Fenced`], so nothing
/// of the batch is written. The renewal locks the lease row until the commit, so a takeover
/// cannot slip in between this check and the commit.
pub fn fence(
    conn: &mut PgConnection,
    member: &Member,
    owned: &Owned,
    partitions: impl IntoIterator<Item = i32>,
) -> Result<(), AggregatorError> {
    for partition in partitions {
        let fenced = AggregatorError::Fenced {
            topic: member.topic.clone(),
            partition,
        };
        let Some(epoch) = owned.get(&partition) else {
            return Err(fenced);
        };
        let renewed = diesel::sql_query(
            "UPDATE partition_leases SET expires_at = now() + make_interval(secs => $6) \
             WHERE consumer = $1 AND topic = $2 AND partition = $3 AND owner = $4 AND owner_epoch = $5",
        )
        .bind::<Text, _>(&member.consumer)
        .bind::<Text, _>(&member.topic)
        .bind::<Integer, _>(partition)
        .bind::<Text, _>(&member.instance_id)
        .bind::<BigInt, _>(epoch)
        .bind::<BigInt, _>(member.lease_seconds)
        .execute(conn)?;
        if renewed != 1 {
            return Err(fenced);
        }
    }
    Ok(())
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    count: i64,
}

#[derive(QueryableByName)]
struct Lease {
    #[diesel(sql_type = Integer)]
    partition: i32,
    #[diesel(sql_type = BigInt)]
    owner_epoch: i64,
}

#[derive(QueryableByName)]
struct PartitionRow {
    #[diesel(sql_type = Integer)]
    partition: i32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_are_split_evenly_rounding_up() {
        assert_eq!(fair_share(6, 1), 6);
        assert_eq!(fair_share(6, 2), 3);
        assert_eq!(fair_share(6, 3), 2);
        assert_eq!(fair_share(6, 4), 2);
        assert_eq!(fair_share(6, 7), 1);
        assert_eq!(fair_share(6, 0), 6, "an instance always counts itself");
    }
}
