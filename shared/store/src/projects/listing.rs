//! The project list. Newest or oldest first (by `created_at`, the key order) pages are
//! read in key order: `limit + 1` items per page by cursor, `skip + limit + 1` by skip,
//! and `total` is one read of the count item. A search, a sort the key order does not
//! give (`updated_at`, `name`), or a `skip` past the bound examines at most
//! [`MAX_EXAMINED`] projects (the newest, or from the cursor on) and says so when that
//! was not all of them (`truncated`; `total_exact` for a search's count of matches).

use aloft_core::{MAX_EXAMINED, PageRequest, Position, Slice};

use crate::{
    Key, ProjectRecord, ProjectRepo, StoreError, TenantId,
    table::{ITEM_COUNT, Item, Merged, Range, from_item},
};

use super::KIND;

/// What the list is ordered by.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ProjectSort {
    /// The key order: read a page at a time, whatever the partition's size.
    #[default]
    CreatedAt,
    UpdatedAt,
    Name,
}

/// Which projects, in which order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProjectListing {
    /// Lower-cased part of the name to look for.
    pub search: Option<String>,
    pub sort: ProjectSort,
    pub descending: bool,
}

impl ProjectRepo {
    /// One page of `tenant`'s live projects as `listing` and `request` ask for them.
    /// Sorted by `updated_at` or `name`, pages are offsets into the sorted newest
    /// [`MAX_EXAMINED`] (`request.after` is for the key order only and ignored here).
    pub async fn list(
        &self,
        tenant: &TenantId,
        listing: &ProjectListing,
        request: &PageRequest,
    ) -> Result<Slice<ProjectRecord>, StoreError> {
        let range = Range::table(Key::tenant_item(tenant, KIND, "").pk);
        match (listing.sort, listing.search.as_deref()) {
            (ProjectSort::CreatedAt, None) => {
                let range = range.descending(listing.descending);
                let count = Key::tenant_count(tenant, KIND);
                self.table
                    .counted_page(&range, request, |_| true, &count, ITEM_COUNT)
                    .await
            }
            (ProjectSort::CreatedAt, Some(needle)) => {
                let range = range.descending(listing.descending);
                self.table
                    .searched_page(&range, request, |item| name_contains(item, needle))
                    .await
            }
            (sort, search) => {
                self.sorted_window(tenant, range, sort, search, listing.descending, request)
                    .await
            }
        }
    }

    /// The newest [`MAX_EXAMINED`] projects (those matching `search`), sorted by `sort`
    /// in memory and paged by offset; `truncated` when they were not all the projects.
    async fn sorted_window(
        &self,
        tenant: &TenantId,
        range: Range,
        sort: ProjectSort,
        search: Option<&str>,
        descending: bool,
        request: &PageRequest,
    ) -> Result<Slice<ProjectRecord>, StoreError> {
        let range = range.descending(true);
        let run = self
            .table
            .read_range(&range, None, usize::MAX, MAX_EXAMINED, |item| {
                search.is_none_or(|needle| name_contains(item, needle))
            })
            .await?;
        let merged = Merged::of(vec![run], &range, usize::MAX);
        let complete = merged.horizon.is_none();
        let mut projects = merged
            .items
            .into_iter()
            .map(|(_, item)| from_item::<ProjectRecord>(item))
            .collect::<Result<Vec<_>, _>>()?;
        projects.sort_by(|a, b| {
            let ordering = match sort {
                ProjectSort::CreatedAt => a.created_at.cmp(&b.created_at),
                ProjectSort::UpdatedAt => a.updated_at.cmp(&b.updated_at),
                ProjectSort::Name => a.name_lower.cmp(&b.name_lower),
            }
            .then_with(|| a.id.cmp(&b.id));
            if descending {
                ordering.reverse()
            } else {
                ordering
            }
        });
        let (total, total_exact) = match search {
            Some(_) => (projects.len() as u64, complete),
            None => (self.count(tenant).await?, true),
        };
        let end = (request.skip as usize).saturating_add(request.limit as usize);
        let next = (end < projects.len())
            .then(|| Position::Offset(u32::try_from(end).unwrap_or(u32::MAX)));
        let items = projects
            .into_iter()
            .skip(request.skip as usize)
            .take(request.limit as usize)
            .collect();
        Ok(Slice {
            items,
            next,
            total,
            total_exact,
            truncated: !complete,
        })
    }
}

fn name_contains(item: &Item, needle: &str) -> bool {
    item.get("name_lower")
        .and_then(|name| name.as_s().ok())
        .is_some_and(|name| name.contains(needle))
}
