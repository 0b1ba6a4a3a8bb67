//! This month's QĐ 766 indicators as gauges (`lienthong_dossier_indicator`), set
//! from the report the board computes (`report::board`), never at scrape time.

use super::{IndicatorLabels, Metrics};

impl Metrics {
    /// Shows `report`'s agency and total rows as the indicator gauges, in place of
    /// the last report's.
    pub fn show_indicators(&self, report: &lienthong_proto::v1::Indicators) {
        self.indicators.clear();
        for row in report.rows.iter().filter(|r| r.procedure_code.is_empty()) {
            let agency = match row.agency_code.as_str() {
                "" => "all".to_owned(),
                code => code.to_owned(),
            };
            let counts = [
                ("received", row.received),
                ("online", row.online),
                ("resolved_on_time", row.resolved_on_time),
                ("resolved_late", row.resolved_late),
                ("in_progress", row.in_progress),
                ("in_progress_overdue", row.in_progress_overdue),
                ("ended_without_result", row.ended_without_result),
                ("synced", row.synced),
                ("oldest_unsynced_seconds", row.oldest_unsynced_age_seconds),
            ];
            let rates = [
                ("online_rate", row.online_rate),
                ("on_time_rate", row.on_time_rate),
                ("sync_rate", row.sync_rate),
            ];
            let values = counts
                .into_iter()
                .map(|(name, v)| (name, Some(v as f64)))
                .chain(rates);
            for (indicator, value) in values {
                if let Some(value) = value {
                    self.indicators
                        .get_or_create(&IndicatorLabels {
                            agency: agency.clone(),
                            indicator,
                        })
                        .set(value);
                }
            }
        }
    }
}
