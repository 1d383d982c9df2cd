//! Diesel table definitions, kept in step with `migrations/` by hand (and checked by the
//! integration tests, which run the migrations and then use every table).

diesel::table! {
    tenants (tenant_id) {
        tenant_id -> Text,
        name -> Text,
        created_at -> Timestamptz,
        country -> Text,
        vat_number -> Nullable<Text>,
        time_zone -> Text,
    }
}

diesel::table! {
    usage_runs (allocation_id, gpu_uuid, first_seq) {
        allocation_id -> Text,
        gpu_uuid -> Text,
        first_seq -> Int8,
        last_seq -> Int8,
        tenant_id -> Text,
        node_id -> Text,
        sku -> Text,
        run_start -> Timestamptz,
        run_end -> Timestamptz,
        gpu_seconds -> Numeric,
        event_digests -> Bytea,
        source_partition -> Int4,
        first_offset -> Int8,
        last_offset -> Int8,
        ingested_at -> Timestamptz,
        price_class -> Text,
    }
}

diesel::table! {
    rated_usage (allocation_id, gpu_uuid, first_seq, segment) {
        allocation_id -> Text,
        gpu_uuid -> Text,
        first_seq -> Int8,
        segment -> Int2,
        tenant_id -> Text,
        sku -> Text,
        period -> Date,
        segment_start -> Timestamptz,
        segment_end -> Timestamptz,
        gpu_seconds -> Numeric,
        price_per_gpu_hour -> Numeric,
        amount -> Numeric,
        price_class -> Text,
    }
}

diesel::table! {
    ledger_entries (entry_id) {
        entry_id -> Int8,
        batch_id -> Uuid,
        tenant_id -> Text,
        sku -> Text,
        period -> Date,
        price_per_gpu_hour -> Numeric,
        gpu_seconds -> Numeric,
        amount -> Numeric,
        segment_count -> Int4,
        booked_at -> Timestamptz,
        price_class -> Text,
    }
}

diesel::table! {
    price_versions (sku, price_class, effective_from) {
        sku -> Text,
        price_class -> Text,
        effective_from -> Timestamptz,
        price_per_gpu_hour -> Numeric,
        loaded_at -> Timestamptz,
    }
}

diesel::table! {
    consumer_offsets (consumer, topic, partition) {
        consumer -> Text,
        topic -> Text,
        partition -> Int4,
        next_offset -> Int8,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    usage_streams (allocation_id, gpu_uuid) {
        allocation_id -> Text,
        gpu_uuid -> Text,
        tenant_id -> Text,
        watermark_seq -> Int8,
        max_seq -> Int8,
        last_end -> Timestamptz,
        updated_at -> Timestamptz,
        first_start -> Timestamptz,
    }
}

diesel::table! {
    usage_gaps (allocation_id, gpu_uuid, first_seq) {
        allocation_id -> Text,
        gpu_uuid -> Text,
        first_seq -> Int8,
        last_seq -> Int8,
        missing_from -> Nullable<Timestamptz>,
        missing_until -> Timestamptz,
        opened_at -> Timestamptz,
    }
}

diesel::table! {
    partition_leases (consumer, topic, partition) {
        consumer -> Text,
        topic -> Text,
        partition -> Int4,
        owner -> Text,
        owner_epoch -> Int8,
        expires_at -> Timestamptz,
    }
}

diesel::table! {
    aggregator_instances (consumer, instance_id) {
        consumer -> Text,
        instance_id -> Text,
        heartbeat_at -> Timestamptz,
    }
}

diesel::table! {
    accounts (account_id) {
        account_id -> Text,
        pcg_code -> Text,
        title -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    journal_transactions (transaction_id) {
        transaction_id -> Uuid,
        kind -> Text,
        description -> Text,
        booked_at -> Timestamptz,
    }
}

diesel::table! {
    journal_entries (transaction_id, line) {
        transaction_id -> Uuid,
        line -> Int2,
        account_id -> Text,
        amount -> Numeric,
    }
}

diesel::table! {
    document_counters (kind, year) {
        kind -> Text,
        year -> Int4,
        last_sequence -> Int4,
    }
}

diesel::table! {
    contracts (tenant_id, version) {
        tenant_id -> Text,
        version -> Int4,
        terms -> Jsonb,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    usage_totals (tenant_id, period, sku, price_class, price_per_gpu_hour) {
        tenant_id -> Text,
        period -> Date,
        sku -> Text,
        price_class -> Text,
        price_per_gpu_hour -> Numeric,
        gpu_seconds -> Numeric,
    }
}

diesel::table! {
    usage_bookings (tenant_id, period, sku, price_class) {
        tenant_id -> Text,
        period -> Date,
        sku -> Text,
        price_class -> Text,
        gpu_seconds -> Numeric,
        booked_amount -> Numeric,
        updated_at -> Timestamptz,
        lines -> Jsonb,
    }
}

diesel::table! {
    credit_grants (grant_id) {
        grant_id -> Uuid,
        tenant_id -> Text,
        amount -> Numeric,
        source -> Text,
        note -> Text,
        transaction_id -> Uuid,
        granted_at -> Timestamptz,
    }
}

diesel::table! {
    invoices (invoice_id) {
        invoice_id -> Uuid,
        number -> Text,
        tenant_id -> Text,
        period -> Date,
        issue -> Int4,
        currency -> Text,
        country -> Text,
        vat_number -> Nullable<Text>,
        vat_category -> Text,
        commitment -> Numeric,
        net_total -> Numeric,
        vat_total -> Numeric,
        total -> Numeric,
        credit_applied -> Numeric,
        transaction_id -> Uuid,
        issued_at -> Timestamptz,
        seller -> Nullable<Jsonb>,
        buyer -> Nullable<Jsonb>,
        due_on -> Nullable<Date>,
    }
}

diesel::table! {
    invoice_lines (invoice_id, line) {
        invoice_id -> Uuid,
        line -> Int2,
        charge -> Text,
        service_period -> Date,
        adjustment -> Bool,
        sku -> Nullable<Text>,
        price_class -> Nullable<Text>,
        description -> Text,
        gpu_seconds -> Numeric,
        quantity_gpu_hours -> Numeric,
        unit_price -> Numeric,
        amount -> Numeric,
        vat_category -> Text,
        vat_rate -> Numeric,
    }
}

diesel::table! {
    credit_notes (credit_note_id) {
        credit_note_id -> Uuid,
        number -> Text,
        invoice_id -> Uuid,
        reason -> Text,
        net_total -> Numeric,
        vat_total -> Numeric,
        total -> Numeric,
        credit_returned -> Numeric,
        transaction_id -> Uuid,
        issued_at -> Timestamptz,
        seller -> Nullable<Jsonb>,
        buyer -> Nullable<Jsonb>,
    }
}

diesel::table! {
    credit_note_lines (credit_note_id, line) {
        credit_note_id -> Uuid,
        line -> Int2,
        description -> Text,
        quantity -> Numeric,
        unit_price -> Numeric,
        amount -> Numeric,
        vat_category -> Text,
        vat_rate -> Numeric,
    }
}

diesel::joinable!(usage_runs -> tenants (tenant_id));
diesel::joinable!(usage_streams -> tenants (tenant_id));
diesel::joinable!(rated_usage -> tenants (tenant_id));
diesel::joinable!(ledger_entries -> tenants (tenant_id));
diesel::joinable!(journal_entries -> journal_transactions (transaction_id));
diesel::joinable!(journal_entries -> accounts (account_id));
diesel::joinable!(contracts -> tenants (tenant_id));
diesel::joinable!(invoices -> tenants (tenant_id));
diesel::joinable!(invoice_lines -> invoices (invoice_id));
diesel::joinable!(credit_notes -> invoices (invoice_id));
diesel::joinable!(credit_note_lines -> credit_notes (credit_note_id));
diesel::joinable!(credit_grants -> tenants (tenant_id));

diesel::table! {
    billing_profiles (tenant_id) {
        tenant_id -> Text,
        country -> Text,
        legal_name -> Text,
        address_line1 -> Text,
        address_line2 -> Nullable<Text>,
        postcode -> Text,
        city -> Text,
        siren -> Nullable<Text>,
        electronic_address_scheme -> Text,
        electronic_address -> Text,
        billing_email -> Text,
        purchase_order -> Nullable<Text>,
        updated_at -> Timestamptz,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    tenants,
    billing_profiles,
    usage_runs,
    rated_usage,
    ledger_entries,
    consumer_offsets,
    usage_streams,
    usage_gaps,
    partition_leases,
    aggregator_instances,
    accounts,
    journal_transactions,
    journal_entries,
    document_counters,
    price_versions,
    contracts,
    usage_totals,
    usage_bookings,
    credit_grants,
    invoices,
    invoice_lines,
    credit_notes,
    credit_note_lines,
    scheduler_nodes,
    allocations,
    allocation_gpus,
    live_gpu_slots
);

diesel::table! {
    scheduler_nodes (node_id) {
        node_id -> Text,
        state -> Text,
        changed_at -> Timestamptz,
    }
}

diesel::table! {
    allocations (id) {
        id -> Text,
        tenant_id -> Text,
        idempotency_key -> Nullable<Text>,
        sku -> Text,
        price_class -> Text,
        priority -> Int4,
        units -> Int4,
        max_duration_seconds -> Int8,
        started_at -> Timestamptz,
        hold_amount -> Numeric,
        status -> Text,
        ended_at -> Nullable<Timestamptz>,
        captured_amount -> Nullable<Numeric>,
        preempted_by -> Nullable<Text>,
        credit_amount -> Nullable<Numeric>,
    }
}

diesel::table! {
    allocation_gpus (allocation_id, gpu_uuid, first_slice) {
        allocation_id -> Text,
        node_id -> Text,
        gpu_index -> Int2,
        gpu_uuid -> Text,
        mig -> Bool,
        first_slice -> Int2,
        slices -> Int2,
    }
}

diesel::table! {
    live_gpu_slots (allocation_id, gpu_uuid, first_slice) {
        allocation_id -> Text,
        gpu_uuid -> Text,
        first_slice -> Int2,
        slices -> Int2,
    }
}

diesel::joinable!(allocation_gpus -> allocations (allocation_id));
diesel::joinable!(live_gpu_slots -> allocations (allocation_id));

diesel::table! {
    api_keys (id) {
        id -> Uuid,
        role -> Text,
        tenant_id -> Nullable<Text>,
        node_id -> Nullable<Text>,
        display_prefix -> Text,
        key_hash -> Bytea,
        label -> Text,
        created_by -> Text,
        created_at -> Timestamptz,
        expires_at -> Nullable<Timestamptz>,
        revoked_at -> Nullable<Timestamptz>,
        last_used_at -> Nullable<Timestamptz>,
        parent_key_id -> Nullable<Uuid>,
    }
}

diesel::table! {
    portal_links (id) {
        id -> Uuid,
        token_hash -> Bytea,
        tenant_id -> Text,
        minted_by -> Uuid,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
        used_at -> Nullable<Timestamptz>,
        session_key_id -> Nullable<Uuid>,
    }
}

diesel::table! {
    audit_log (id) {
        id -> Int8,
        at -> Timestamptz,
        request_id -> Uuid,
        key_id -> Nullable<Uuid>,
        key_role -> Nullable<Text>,
        key_tenant_id -> Nullable<Text>,
        operator -> Nullable<Text>,
        action -> Text,
        target_tenant_id -> Nullable<Text>,
        targets -> Jsonb,
        status -> Int2,
    }
}

diesel::joinable!(audit_log -> api_keys (key_id));

diesel::table! {
    idempotency_keys (api_key_id, idempotency_key) {
        api_key_id -> Uuid,
        idempotency_key -> Text,
        request_digest -> Bytea,
        created_at -> Timestamptz,
        status -> Nullable<Int2>,
        content_type -> Nullable<Text>,
        response_body -> Nullable<Bytea>,
    }
}

diesel::joinable!(idempotency_keys -> api_keys (api_key_id));
