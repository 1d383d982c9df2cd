//! `gpubill keys create|list|revoke`: API keys from the command line, for operators who hold the
//! database's credentials. This is how the first admin key of a fresh database is made (no HTTP
//! call can make one without a key). A key is printed once and only its hash is stored; every
//! create and revoke is written to the audit trail under `cli:<user>`.

use crate::setup;
use anyhow::{Context, Result};
use chrono::Utc;
use gpubill_access::audit::{self, Actor};
use gpubill_access::keys;
use gpubill_domain::access::{Binding, KeySpec, Role, key_expiry};
use gpubill_platform::config::Config;
use gpubill_platform::db::with_conn;
use uuid::Uuid;

#[derive(Debug, clap::Subcommand)]
pub enum KeysCommand {
    /// Create a key and print it once.
    Create(CreateArgs),
    /// List the keys, newest first (never their secrets).
    List {
        #[arg(long, default_value_t = 100)]
        limit: i64,
        /// Print JSON, as GET /v1/api-keys answers.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key: refused at once by new API instances, within auth.key_refresh_ms by running ones.
    Revoke { id: Uuid },
}

#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// admin, finance, tenant, node or portal.
    #[arg(long)]
    role: String,
    /// The tenant of a tenant or portal key.
    #[arg(long, conflicts_with = "node")]
    tenant: Option<String>,
    /// The node of a node key.
    #[arg(long)]
    node: Option<String>,
    /// Lifetime: seconds, or a number with s, m, h or d (`90d`) [default: none; portal keys
    /// auth.portal_key_seconds].
    #[arg(long)]
    expires_in: Option<String>,
    /// Free text shown in lists.
    #[arg(long, default_value = "")]
    label: String,
    /// Print only the key (for scripts).
    #[arg(long)]
    quiet: bool,
}

pub async fn run(config: &Config, command: KeysCommand) -> Result<()> {
    let pool = setup::prepare_ledger(config).await?.pool;
    match command {
        KeysCommand::Create(args) => create(config, &pool, args).await,
        KeysCommand::List { limit, json } => {
            anyhow::ensure!(
                (1..=10_000).contains(&limit),
                "--limit must be within 1..=10000"
            );
            let listed = with_conn(&pool, move |conn| keys::list(conn, None, limit)).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&listed)?);
                return Ok(());
            }
            println!(
                "{:<36}  {:<8}  {:<20}  {:<22}  {:<20}  {:<20}  label",
                "id", "role", "bound to", "prefix", "expires", "revoked"
            );
            for key in listed {
                let when = |at: Option<chrono::DateTime<Utc>>| {
                    at.map_or_else(
                        || "-".to_owned(),
                        |at| at.format("%Y-%m-%d %H:%M").to_string(),
                    )
                };
                println!(
                    "{:<36}  {:<8}  {:<20}  {:<22}  {:<20}  {:<20}  {}",
                    key.id,
                    key.role.code(),
                    key.tenant.as_deref().or(key.node.as_deref()).unwrap_or("-"),
                    format!("{}…", key.prefix),
                    when(key.expires_at),
                    when(key.revoked_at),
                    key.label
                );
            }
            Ok(())
        }
        KeysCommand::Revoke { id } => {
            let now = Utc::now();
            let revoked = with_conn(&pool, move |conn| {
                let revoked = keys::revoke(conn, id, now)?;
                record(
                    conn,
                    "gpubill keys revoke",
                    revoked.key.tenant.clone(),
                    [("key", id.to_string())],
                )?;
                Ok::<_, anyhow::Error>(revoked)
            })
            .await?;
            match (revoked.newly, revoked.key.revoked_at) {
                (true, _) => println!("revoked {id}"),
                (false, Some(at)) => println!("{id} was already revoked at {}", at.to_rfc3339()),
                (false, None) => anyhow::bail!("{id} is not revoked"),
            }
            Ok(())
        }
    }
}

async fn create(config: &Config, pool: &gpubill_platform::PgPool, args: CreateArgs) -> Result<()> {
    let role = Role::from_code(&args.role).with_context(|| {
        format!(
            "--role `{}`: expected admin, finance, tenant, node or portal",
            args.role
        )
    })?;
    let binding = match (args.tenant, args.node) {
        (Some(tenant), _) => Binding::Tenant(tenant),
        (None, Some(node)) => Binding::Node(node),
        (None, None) => Binding::None,
    };
    let lifetime = args.expires_in.as_deref().map(parse_lifetime).transpose()?;
    let now = Utc::now();
    let spec = KeySpec {
        role,
        binding,
        expires_at: key_expiry(role, now, lifetime, config.settings.auth.portal_key_seconds)?,
        label: args.label,
        parent: None,
    };
    let cluster = config.cluster.clone();
    let issued = with_conn(pool, move |conn| {
        let issued = keys::issue(conn, &cluster, &spec, &Actor::operator().name(), now)?;
        record(
            conn,
            "gpubill keys create",
            issued.key.tenant.clone(),
            [("key", issued.key.id.to_string())],
        )?;
        Ok::<_, anyhow::Error>(issued)
    })
    .await?;
    if args.quiet {
        println!("{}", issued.secret.expose());
        return Ok(());
    }
    let key = &issued.key;
    println!("{}", issued.secret.expose());
    eprintln!(
        "created {} key {}{}{} — shown once: only its hash is stored",
        key.role.code(),
        key.id,
        key.tenant
            .as_deref()
            .or(key.node.as_deref())
            .map(|b| format!(" for {b}"))
            .unwrap_or_default(),
        key.expires_at
            .map(|at| format!(", expires {}", at.to_rfc3339()))
            .unwrap_or_default(),
    );
    Ok(())
}

/// Writes the audit row of a command run by the operator, which did all it was asked.
fn record(
    conn: &mut diesel::PgConnection,
    action: &str,
    tenant: Option<String>,
    targets: [(&str, String); 1],
) -> Result<()> {
    let targets = targets
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    audit::append_command(conn, action, tenant, targets, true)
        .context("cannot write the audit trail")
}

/// `3600`, `3600s`, `90m`, `12h`, `30d` as seconds.
fn parse_lifetime(text: &str) -> Result<i64> {
    let (number, unit) = match text.char_indices().last() {
        Some((at, 's')) => (&text[..at], 1),
        Some((at, 'm')) => (&text[..at], 60),
        Some((at, 'h')) => (&text[..at], 3600),
        Some((at, 'd')) => (&text[..at], 86_400),
        _ => (text, 1),
    };
    let number: i64 = number.parse().ok().filter(|n| *n > 0).with_context(|| {
        format!("--expires-in `{text}`: expected a positive number with s, m, h or d")
    })?;
    number
        .checked_mul(unit)
        .with_context(|| format!("--expires-in `{text}` is too long"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes_read_as_people_write_them() {
        assert_eq!(parse_lifetime("3600").unwrap(), 3600);
        assert_eq!(parse_lifetime("90m").unwrap(), 5400);
        assert_eq!(parse_lifetime("12h").unwrap(), 43_200);
        assert_eq!(parse_lifetime("30d").unwrap(), 2_592_000);
        for refused in ["", "d", "-5s", "0", "1.5h", "1w"] {
            assert!(parse_lifetime(refused).is_err(), "{refused}");
        }
    }
}
