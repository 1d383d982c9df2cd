//! The finance exports of the test month (support::test_month) on a real Postgres: the FEC is
//! checked against the rules of article A47 A-1 LPF and its published specification (header,
//! 18 columns, dates, decimal comma, every entry and the file balanced, EcritureNum without gaps
//! per journal in chronological order, ValidDate not before EcritureDate, account numbers, the
//! auxiliary account on customer lines, the file name's SIREN); a file broken on purpose fails
//! the same checks. The CSV journal and the trial balance tie to the invoices, and the HTTP
//! routes serve the same bytes as the command line, to finance and admin only.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod support;

use gpubill_domain::legal_id::check_siren;
use gpubill_ledger::invoicing::InvoiceView;
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use std::str::FromStr;
use support::TestEnv;
use support::test_month::test_month;

const HEADER: &str = "JournalCode|JournalLib|EcritureNum|EcritureDate|CompteNum|CompteLib|CompAuxNum|CompAuxLib|PieceRef|PieceDate|EcritureLib|Debit|Credit|EcritureLet|DateLet|ValidDate|Montantdevise|Idevise";

/// ISO 8859-15 bytes as text.
fn latin9(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|byte| match byte {
            0xA4 => '€',
            0xA6 => 'Š',
            0xA8 => 'š',
            0xB4 => 'Ž',
            0xB8 => 'ž',
            0xBC => 'Œ',
            0xBD => 'œ',
            0xBE => 'Ÿ',
            other => char::from(*other),
        })
        .collect()
}

fn fec_amount(text: &str) -> Option<Decimal> {
    let (units, cents) = text.split_once(',')?;
    let well_formed = !units.is_empty()
        && units.bytes().all(|b| b.is_ascii_digit())
        && cents.len() == 2
        && cents.bytes().all(|b| b.is_ascii_digit());
    well_formed.then(|| Decimal::from_str(&format!("{units}.{cents}")).unwrap())
}

fn fec_date(text: &str) -> Option<chrono::NaiveDate> {
    (text.len() == 8)
        .then(|| chrono::NaiveDate::parse_from_str(text, "%Y%m%d").ok())
        .flatten()
}

/// Every rule the file breaks; empty for a conforming FEC named `file_name`.
fn fec_violations(file_name: &str, bytes: &[u8]) -> Vec<String> {
    let mut violations = Vec::new();
    let siren = &file_name[..9.min(file_name.len())];
    if check_siren(siren).is_err()
        || !file_name[9..].starts_with("FEC")
        || fec_date(&file_name[12..20.min(file_name.len())]).is_none()
        || !file_name.ends_with(".txt")
    {
        violations.push(format!(
            "file name {file_name}: not <SIREN>FEC<AAAAMMJJ>.txt with a valid SIREN"
        ));
    }
    let text = latin9(bytes);
    let mut lines = text.split("\r\n");
    if lines.next() != Some(HEADER) {
        violations.push("the header line is not the 18 legal column names".to_owned());
    }
    let mut entries: BTreeMap<(String, u64), Decimal> = BTreeMap::new();
    let mut last_number: BTreeMap<String, (u64, chrono::NaiveDate)> = BTreeMap::new();
    let (mut debit, mut credit) = (Decimal::ZERO, Decimal::ZERO);
    for (index, line) in lines.enumerate().filter(|(_, line)| !line.is_empty()) {
        let at = index + 2;
        let fields: Vec<&str> = line.split('|').collect();
        if fields.len() != 18 {
            violations.push(format!("line {at}: {} fields", fields.len()));
            continue;
        }
        let (journal, number) = (fields[0], fields[2].parse::<u64>());
        let (entry_date, piece_date, valid_date) = (
            fec_date(fields[3]),
            fec_date(fields[9]),
            fec_date(fields[15]),
        );
        let (Ok(number), Some(entry_date), Some(_), Some(valid_date)) =
            (number, entry_date, piece_date, valid_date)
        else {
            violations.push(format!("line {at}: EcritureNum or a date is malformed"));
            continue;
        };
        if valid_date < entry_date {
            violations.push(format!("line {at}: ValidDate before EcritureDate"));
        }
        let account = fields[4];
        if account.len() < 3
            || !account[..3].bytes().all(|b| b.is_ascii_digit())
            || !account.bytes().all(|b| b.is_ascii_alphanumeric())
            || fields[5].is_empty()
        {
            violations.push(format!("line {at}: CompteNum `{account}` or CompteLib"));
        }
        let customer = ["411", "4181", "4191"].contains(&account);
        if customer == fields[6].is_empty() || fields[6].is_empty() != fields[7].is_empty() {
            violations.push(format!("line {at}: CompAuxNum on {account}"));
        }
        if fields[8].is_empty() || fields[10].is_empty() {
            violations.push(format!("line {at}: PieceRef or EcritureLib empty"));
        }
        let (Some(line_debit), Some(line_credit)) =
            (fec_amount(fields[11]), fec_amount(fields[12]))
        else {
            violations.push(format!(
                "line {at}: Debit or Credit not a decimal-comma amount"
            ));
            continue;
        };
        if line_debit.is_zero() == line_credit.is_zero() {
            violations.push(format!(
                "line {at}: one of Debit and Credit must be zero, not both"
            ));
        }
        debit += line_debit;
        credit += line_credit;
        *entries.entry((journal.to_owned(), number)).or_default() += line_debit - line_credit;
        match last_number.get(journal) {
            Some((last, _)) if number == *last => {}
            Some((last, last_date)) if number == last + 1 && entry_date >= *last_date => {}
            None if number == 1 => {}
            _ => violations.push(format!(
                "line {at}: EcritureNum {number} of {journal} breaks the sequence"
            )),
        }
        last_number.insert(journal.to_owned(), (number, entry_date));
    }
    for ((journal, number), balance) in &entries {
        if !balance.is_zero() {
            violations.push(format!(
                "entry {journal} {number} does not balance ({balance})"
            ));
        }
    }
    if debit != credit {
        violations.push(format!(
            "the file does not balance: debit {debit}, credit {credit}"
        ));
    }
    violations
}

/// The amount each tenant owes on its live invoices: total less prepaid credit applied.
fn owed_per_tenant(invoices: &[InvoiceView], voided: &str) -> BTreeMap<String, Decimal> {
    let mut owed = BTreeMap::new();
    for invoice in invoices {
        if invoice.number.as_deref() != Some(voided) {
            *owed.entry(invoice.tenant_id.clone()).or_default() +=
                invoice.total - invoice.credit_applied;
        }
    }
    owed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_books_of_the_test_month_export_as_a_conforming_fec_a_journal_and_a_trial_balance() {
    let env = TestEnv::new().await;
    let (invoices, credit_note) = env.conn(test_month).await;
    let voided = invoices[2].number.clone().unwrap();
    let dir = std::env::temp_dir().join(format!("{}-exports", env.database));
    std::fs::create_dir_all(&dir).unwrap();

    // The FEC from the command line.
    let output = env
        .run_cli(&[
            "export",
            "fec",
            "--year",
            "2026",
            "--dir",
            dir.to_str().unwrap(),
        ])
        .await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let name = "912345675FEC20261231.txt";
    let fec = std::fs::read(dir.join(name)).unwrap();
    assert_eq!(fec_violations(name, &fec), Vec::<String>::new());
    assert!(!dir.join(format!("{name}.partial")).exists());
    let description =
        latin9(&std::fs::read(dir.join("912345675FEC20261231_description.txt")).unwrap());
    assert!(
        description.contains("ISO 8859-15") && description.contains("FAE"),
        "{description}"
    );
    let text = latin9(&fec);
    // Every document is a piece of the sales journal; French text is Latin-9.
    for invoice in &invoices {
        let number = invoice.number.as_deref().unwrap();
        assert!(
            text.contains(&format!("|{number}|")),
            "{number} missing from the FEC"
        );
    }
    assert!(text.contains(&format!("|{credit_note}|")));
    assert!(text.contains("TVA collectée"));
    let journals: Vec<&str> = text
        .lines()
        .skip(1)
        .map(|line| &line[..line.find('|').unwrap()])
        .collect();
    for journal in ["VE", "FAE", "AC"] {
        assert!(journals.contains(&journal), "no {journal} entry");
    }

    // Broken on purpose, the same checks refuse it.
    let broken_amount = text.replacen("|0,00|", "|0,01|", 1);
    assert!(!fec_violations(name, broken_amount.as_bytes()).is_empty());
    let mut without_line: Vec<&str> = text.split("\r\n").collect();
    without_line.remove(3);
    assert!(!fec_violations(name, without_line.join("\r\n").as_bytes()).is_empty());
    assert!(
        !fec_violations("912345676FEC20261231.txt", &fec).is_empty(),
        "a SIREN failing Luhn"
    );
    let renumbered = text.replacen("|FAE|2|", "|FAE|3|", 1).replace(
        "Factures à établir - consommation GPU|2|",
        "Factures à établir - consommation GPU|3|",
    );
    assert!(
        !fec_violations(name, renumbered.as_bytes()).is_empty(),
        "a gap in EcritureNum"
    );

    // The trial balance: zero in total, and 411 per tenant what its live invoices leave owed
    // (plus the prepaid credit it bought, which it owes too).
    let output = env
        .run_cli(&[
            "export",
            "trial-balance",
            "--at",
            "2026-12-31",
            "--format",
            "json",
        ])
        .await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let balance: gpubill_schema::api::export::TrialBalance =
        serde_json::from_slice(&output.stdout).unwrap();
    assert!(balance.total_balance.is_zero());
    assert_eq!(balance.total_debit, balance.total_credit);
    let mut expected = owed_per_tenant(&invoices, &voided);
    *expected.get_mut("helix-bio").unwrap() += Decimal::from(100);
    let receivables: BTreeMap<String, Decimal> = balance
        .accounts
        .iter()
        .filter(|row| row.pcg_code == "411")
        .map(|row| (row.auxiliary_account.clone().unwrap(), row.balance))
        .collect();
    assert_eq!(receivables, expected);

    // The CSV journal: every FEC line, with the same totals.
    let csv_path = dir.join("journal.csv");
    let output = env
        .run_cli(&[
            "export",
            "journal",
            "--from",
            "2026-01-01",
            "--to",
            "2026-12-31",
            "--out",
            csv_path.to_str().unwrap(),
        ])
        .await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let csv = std::fs::read_to_string(&csv_path).unwrap();
    assert_eq!(
        csv.split("\r\n").filter(|l| !l.is_empty()).count(),
        text.split("\r\n").filter(|l| !l.is_empty()).count()
    );
    assert!(csv.starts_with("transaction_id,posted_at,journal,kind,line,account,pcg_code,account_title,auxiliary_account,debit,credit,document,document_date,tenant,description\r\n"));

    // Over HTTP: the same bytes, with the legal file name, for finance; not for a tenant.
    let api = env.start_api().await;
    let (finance, _) = api.issue_key(r#"{"role": "finance"}"#).await;
    let (tenant, _) = api
        .issue_key(r#"{"role": "tenant", "tenant": "mistral-lab"}"#)
        .await;
    let reply = api
        .request("GET", "/v1/exports/fec?year=2026", Some(&finance), None)
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("content-disposition"),
        Some(format!("attachment; filename=\"{name}\"").as_str())
    );
    assert_eq!(
        reply.header("content-type"),
        Some("text/plain; charset=iso-8859-15")
    );
    assert_eq!(reply.body, fec);
    let reply = api
        .request(
            "GET",
            "/v1/exports/journal?from=2026-01-01&to=2026-12-31",
            Some(&finance),
            None,
        )
        .await;
    assert_eq!(
        (reply.status, String::from_utf8(reply.body).unwrap()),
        (200, csv)
    );
    let reply = api
        .request(
            "GET",
            "/v1/exports/trial-balance?at=2026-12-31",
            Some(&finance),
            None,
        )
        .await;
    assert_eq!(reply.status, 200);
    let over_http: gpubill_schema::api::export::TrialBalance =
        serde_json::from_slice(&reply.body).unwrap();
    assert_eq!(over_http, balance);
    let reply = api
        .request("GET", "/v1/exports/fec?year=2026", Some(&tenant), None)
        .await;
    assert_eq!(reply.status, 403);
    for (path, code) in [
        ("/v1/exports/fec?year=26", "invalid_year"),
        (
            "/v1/exports/fec?year=2026&separator=comma",
            "invalid_export_option",
        ),
        (
            "/v1/exports/journal?from=2026-13-01&to=2026-12-31",
            "invalid_time",
        ),
        (
            "/v1/exports/journal?from=2026-12-01&to=2026-11-30",
            "invalid_time",
        ),
        (
            "/v1/exports/trial-balance?at=2026-12-31&format=xlsx",
            "invalid_format",
        ),
    ] {
        let reply = api.request("GET", path, Some(&finance), None).await;
        assert_eq!(
            (
                reply.status,
                reply.json()["code"].as_str().unwrap().to_owned()
            ),
            (400, code.to_owned()),
            "{path}"
        );
    }
    api.stop().await;
}

/// Where the FOCUS files go: `FOCUS_SAMPLES_DIR` (validated by `scripts/validate-focus.sh` in
/// `make test`), or a directory of the test's own.
fn focus_dir(env: &TestEnv) -> std::path::PathBuf {
    let dir = std::env::var_os("FOCUS_SAMPLES_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join(format!("{}-focus", env.database)));
    std::fs::create_dir_all(dir.join("broken")).unwrap();
    dir
}

/// Rows of a FOCUS CSV by column name (no field of ours holds a line break).
fn focus_rows(csv: &str) -> Vec<BTreeMap<String, String>> {
    let mut lines = csv.split("\r\n").filter(|line| !line.is_empty());
    let header: Vec<String> = split_csv(lines.next().unwrap());
    lines
        .map(|line| header.iter().cloned().zip(split_csv(line)).collect())
        .collect()
}

fn split_csv(line: &str) -> Vec<String> {
    let (mut fields, mut field, mut quoted, mut chars) =
        (Vec::new(), String::new(), false, line.chars().peekable());
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => fields.push(std::mem::take(&mut field)),
            (c, _) => field.push(c),
        }
    }
    fields.push(field);
    fields
}

fn billed(
    rows: &[BTreeMap<String, String>],
    keep: impl Fn(&BTreeMap<String, String>) -> bool,
) -> Decimal {
    rows.iter()
        .filter(|row| keep(row))
        .map(|row| Decimal::from_str(&row["BilledCost"]).unwrap())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn focus_rows_tie_to_every_invoice_of_the_test_month_to_the_cent() {
    let env = TestEnv::new().await;
    let (invoices, _) = env.conn(test_month).await;
    let voided = invoices[2].number.clone().unwrap();
    let dir = focus_dir(&env);
    for period in ["2026-10", "2026-11"] {
        for tenant in ["mistral-lab", "helix-bio", "nordic-nlp"] {
            let path = dir.join(format!("test-month_{tenant}_{period}.csv"));
            let output = env
                .run_cli(&[
                    "export",
                    "focus",
                    "--tenant",
                    tenant,
                    "--period",
                    period,
                    "--out",
                    path.to_str().unwrap(),
                ])
                .await;
            assert!(
                output.status.success(),
                "{}",
                String::from_utf8_lossy(&output.stderr)
            );
            let csv = std::fs::read_to_string(&path).unwrap();
            assert!(csv.is_ascii());
            let rows = focus_rows(&csv);
            let invoice = invoices
                .iter()
                .rev()
                .find(|invoice| {
                    invoice.tenant_id == tenant
                        && invoice.period == period
                        && invoice.number.as_deref() != Some(&voided)
                })
                .unwrap();
            let number = invoice.number.clone().unwrap();
            assert!(
                rows.iter().all(|row| row["InvoiceId"] == number),
                "{tenant} {period}"
            );
            assert_eq!(
                billed(&rows, |_| true),
                invoice.total - invoice.credit_applied,
                "{tenant} {period}: amount due"
            );
            assert_eq!(
                billed(&rows, |row| row["ChargeCategory"] != "Credit"),
                invoice.total,
                "{tenant} {period}: total"
            );
            assert_eq!(
                billed(&rows, |row| row["ChargeCategory"] == "Tax"),
                invoice.vat_total
            );
        }
    }
    // The same rows as Parquet, for the validator, and the same bytes over HTTP below.
    let parquet_path = dir.join("test-month_helix-bio_2026-10.parquet");
    let output = env
        .run_cli(&[
            "export",
            "focus",
            "--tenant",
            "helix-bio",
            "--period",
            "2026-10",
            "--format",
            "parquet",
            "--out",
            parquet_path.to_str().unwrap(),
        ])
        .await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let parquet = std::fs::read(&parquet_path).unwrap();
    assert!(parquet.starts_with(b"PAR1") && parquet.ends_with(b"PAR1"));

    // Broken on purpose: text the validator refuses (FOCUS strings are checked as ASCII).
    let sample = std::fs::read_to_string(dir.join("test-month_mistral-lab_2026-10.csv")).unwrap();
    std::fs::write(
        dir.join("broken/non-ascii.csv"),
        sample.replace("GPU Cloud France", "GPU Cloud Françe"),
    )
    .unwrap();
    std::fs::write(
        dir.join("broken/lowercase-unit.csv"),
        sample.replace("GPU-Hours", "gpu-hours"),
    )
    .unwrap();

    // Over HTTP: the tenant's own rows, the same bytes; another tenant's are not found.
    let api = env.start_api().await;
    let (tenant_key, _) = api
        .issue_key(r#"{"role": "tenant", "tenant": "mistral-lab"}"#)
        .await;
    let reply = api
        .request(
            "GET",
            "/v1/tenants/mistral-lab/exports/focus?period=2026-10",
            Some(&tenant_key),
            None,
        )
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, sample.as_bytes());
    let reply = api
        .request(
            "GET",
            "/v1/tenants/helix-bio/exports/focus?period=2026-10",
            Some(&tenant_key),
            None,
        )
        .await;
    assert_eq!(reply.status, 404);
    let reply = api
        .request(
            "GET",
            "/v1/tenants/helix-bio/exports/focus?period=2026-10&format=parquet",
            Some(&api.admin_key),
            None,
        )
        .await;
    assert_eq!(
        (reply.status, reply.header("content-type")),
        (200, Some("application/vnd.apache.parquet"))
    );
    assert_eq!(reply.body, parquet);
    let reply = api
        .request(
            "GET",
            "/v1/exports/focus?period=2026-10",
            Some(&tenant_key),
            None,
        )
        .await;
    assert_eq!(reply.status, 403);
    let reply = api
        .request(
            "GET",
            "/v1/exports/focus?period=2026-13",
            Some(&api.admin_key),
            None,
        )
        .await;
    assert_eq!(reply.status, 400);
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metered_usage_becomes_hourly_focus_rows_that_add_up_to_the_invoice() {
    let env = TestEnv::new().await;
    // Three hours and a half, starting and ending inside an hour.
    support::meter(&env, "2026-11-10T00:30:00Z", "2026-11-10T04:00:00Z").await;
    env.run_aggregator_until_caught_up().await;
    let invoices: Vec<InvoiceView> = env
        .conn(|conn| {
            ["mistral-lab", "helix-bio", "nordic-nlp"]
                .into_iter()
                .filter_map(|tenant| {
                    let period = "2026-11".parse().unwrap();
                    match gpubill_ledger::invoicing::finalize_invoice(
                        conn,
                        tenant,
                        period,
                        "EUR",
                        &support::seller(),
                        support::at("2026-12-05T09:00:00Z"),
                    )
                    .unwrap()
                    {
                        gpubill_ledger::invoicing::Finalized::Issued(invoice) => Some(invoice),
                        _ => None,
                    }
                })
                .collect()
        })
        .await;
    assert!(!invoices.is_empty());
    let dir = focus_dir(&env);
    let path = dir.join("metered_all_2026-11.csv");
    let output = env
        .run_cli(&[
            "export",
            "focus",
            "--all",
            "--period",
            "2026-11",
            "--out",
            path.to_str().unwrap(),
        ])
        .await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let rows = focus_rows(&std::fs::read_to_string(&path).unwrap());
    let usage: Vec<_> = rows
        .iter()
        .filter(|row| !row["ResourceId"].is_empty())
        .collect();
    assert!(
        usage.len() >= 4,
        "hourly rows per allocation: {}",
        usage.len()
    );
    for row in &usage {
        let start = support::at(&row["ChargePeriodStart"]);
        let end = support::at(&row["ChargePeriodEnd"]);
        assert_eq!(end - start, chrono::Duration::hours(1));
    }
    for invoice in &invoices {
        let number = invoice.number.clone().unwrap();
        assert_eq!(
            billed(&rows, |row| row["InvoiceId"] == number),
            invoice.total - invoice.credit_applied,
            "{number}"
        );
    }
}
