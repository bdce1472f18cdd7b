//! Webhooks (being written).
