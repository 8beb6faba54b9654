//! Usage counters: per user, metric and day (`<metric>#<yyyy-mm-dd>`), plus month
//! rollups (`<metric>#<yyyy-mm>`) and month breakdowns (`<metric>#<yyyy-mm>#<dimension>`,
//! e.g. AI tokens by model) for metrics that need a month's total in one read. Every
//! change is an atomic `ADD`, so concurrent requests never lose a count.

use crate::{Key, StoreError, Table, table::n};

/// Usage counters, per user, metric and period.
#[derive(Debug, Clone)]
pub struct UsageMeter {
    table: Table,
}

impl UsageMeter {
    pub fn new(table: Table) -> Self {
        Self { table }
    }

    /// Adds one to `metric` of `user_id` on `day` (`YYYY-MM-DD`).
    pub async fn record(&self, user_id: &str, metric: &str, day: &str) -> Result<(), StoreError> {
        self.add(user_id, metric, day, 1).await
    }

    /// Adds `amount` (negative to subtract) to `metric` of `user_id` in `period` (a day,
    /// or a month rollup).
    pub async fn add(
        &self,
        user_id: &str,
        metric: &str,
        period: &str,
        amount: i64,
    ) -> Result<(), StoreError> {
        self.table
            .client()
            .update_item()
            .table_name(self.table.name())
            .set_key(Some(Key::usage(user_id, metric, period).attributes()))
            .update_expression("ADD #count :amount")
            .expression_attribute_names("#count", "count")
            .expression_attribute_values(":amount", n(amount))
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        Ok(())
    }

    /// Adds `amount` to `metric` on `day`, to its month, and to the month's `dimension`
    /// (say, the AI model) when given; the three updates run concurrently.
    pub async fn add_with_month(
        &self,
        user_id: &str,
        metric: &str,
        day: &str,
        amount: i64,
        dimension: Option<&str>,
    ) -> Result<(), StoreError> {
        let month = day.get(..7).unwrap_or(day);
        let by_dimension = async {
            match dimension {
                Some(dimension) => {
                    let period = format!("{month}#{dimension}");
                    self.add(user_id, metric, &period, amount).await
                }
                None => Ok(()),
            }
        };
        let (daily, monthly, dimensional) = tokio::join!(
            self.add(user_id, metric, day, amount),
            self.add(user_id, metric, month, amount),
            by_dimension,
        );
        daily.and(monthly).and(dimensional)
    }

    /// The count of `metric` of `user_id` in `period` (a day, or a month rollup).
    pub async fn count(
        &self,
        user_id: &str,
        metric: &str,
        period: &str,
    ) -> Result<i64, StoreError> {
        #[derive(serde::Deserialize)]
        struct Counter {
            count: i64,
        }
        let counter: Option<Counter> = self.table.get(&Key::usage(user_id, metric, period)).await?;
        Ok(counter.map_or(0, |c| c.count))
    }
}
