//! Organizations through the users function's router against the local emulator:
//! creation, the caller's tenants, members and their roles, and what an outsider sees.
//! Members join here through the store (invitations are the jobs worker's).
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a panic with the value is the report"
)]

use aloft_http::HttpConfig;
use aloft_store::{
    JobRepo, JobStatus, Joined, MemberRole, MembershipLimits, MembershipRecord, OrganizationRepo,
    Table, TenantId, UserRepo,
};
use aloft_testkit::{TestEnv, oneshot};
use axum::Router;
use http::StatusCode;
use serde_json::Value;

struct Fixture {
    app: Router,
    organizations: OrganizationRepo,
    jobs: JobRepo,
}

const LIMITS: MembershipLimits = MembershipLimits {
    members_per_organization: 3,
    organizations_per_user: 2,
};

async fn fixture() -> Fixture {
    let env = TestEnv::new().await;
    let vars = env.env(&[
        ("ORGANIZATION_MEMBERS_MAX", "3"),
        ("ORGANIZATIONS_PER_USER_MAX", "2"),
    ]);
    let app = fn_users::router(
        fn_users::AppState::from_env(&vars).await.unwrap(),
        &HttpConfig::from_env(&vars).unwrap(),
    );
    let table = Table::new(env.clients.dynamodb.clone(), env.table());
    let users = UserRepo::new(table.clone());
    for id in ["ann", "bob", "cat", "dan", "eve"] {
        users.create(&aloft_testkit::user_record(id)).await.unwrap();
    }
    Fixture {
        app,
        organizations: OrganizationRepo::new(table.clone()),
        jobs: JobRepo::new(table),
    }
}

impl Fixture {
    /// The `member.*` events published, as `(event, user_id, role)`, sorted.
    async fn member_events(&self) -> Vec<(String, String, Value)> {
        let mut events: Vec<(String, String, Value)> = self
            .jobs
            .list(JobStatus::Queued)
            .await
            .unwrap()
            .into_iter()
            .filter(|job| job.kind == "webhook.fanout")
            .map(|job| serde_json::from_str::<Value>(&job.payload).unwrap())
            .filter(|fanout| fanout["event"].as_str().unwrap().starts_with("member."))
            .map(|fanout| {
                let event = fanout["event"].as_str().unwrap().to_owned();
                let user = fanout["data"]["user_id"].as_str().unwrap().to_owned();
                (event, user, fanout["data"]["role"].clone())
            })
            .collect();
        events.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        events
    }

    async fn call(
        &self,
        user: &str,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> (StatusCode, Value) {
        let answer = oneshot::send(&self.app, oneshot::as_user(method, path, user, body)).await;
        let json = if answer.text.is_empty() {
            Value::Null
        } else {
            answer.json()
        };
        (answer.status, json)
    }

    /// Ann's new organization, with `members` joined as `member`.
    async fn organization(&self, members: &[&str]) -> String {
        let (status, body) = self
            .call(
                "ann",
                "POST",
                "/api/v1/app/organizations",
                Some(r#"{"name": "Acme"}"#),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let id = body["id"].as_str().unwrap().to_owned();
        for member in members {
            self.join(&id, member, MemberRole::Member).await;
        }
        id
    }

    async fn join(&self, id: &str, user: &str, role: MemberRole) -> Joined {
        let member = MembershipRecord {
            tenant_id: id.to_owned(),
            user_id: user.to_owned(),
            role,
            joined_at: aloft_core::timestamp::now(),
        };
        self.organizations
            .add_member(&member, LIMITS)
            .await
            .unwrap()
    }

    async fn role_of(&self, id: &str, user: &str) -> Option<MemberRole> {
        let member = self
            .organizations
            .membership(&TenantId::new(id), user)
            .await
            .unwrap();
        member.map(|m| m.role)
    }
}

#[tokio::test]
async fn the_creator_owns_it_and_the_personal_tenant_is_listed_first() {
    let f = fixture().await;
    let id = f.organization(&[]).await;

    let (status, list) = f
        .call("ann", "GET", "/api/v1/app/organizations", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["kind"], "personal");
    assert_eq!(items[0]["id"], "tenant-ann");
    assert_eq!(items[0]["role"], "owner");
    assert_eq!(items[1]["id"], id.as_str());
    assert_eq!(items[1]["kind"], "organization");
    assert_eq!(items[1]["role"], "owner");
    assert_eq!(items[1]["name"], "Acme");

    let (status, personal) = f
        .call("ann", "GET", "/api/v1/app/organizations/tenant-ann", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(personal["kind"], "personal");
}

#[tokio::test]
async fn an_outsider_gets_404_on_every_organization_route() {
    let f = fixture().await;
    let id = f.organization(&["bob"]).await;
    let org = format!("/api/v1/app/organizations/{id}");
    for (method, path, body) in [
        ("GET", org.clone(), None),
        ("PATCH", org.clone(), Some(r#"{"name": "Mine"}"#)),
        ("DELETE", org.clone(), None),
        ("GET", format!("{org}/members"), None),
        (
            "PATCH",
            format!("{org}/members/bob"),
            Some(r#"{"role": "viewer"}"#),
        ),
        ("DELETE", format!("{org}/members/bob"), None),
        (
            "GET",
            "/api/v1/app/organizations/tenant-ann".to_owned(),
            None,
        ),
    ] {
        let (status, body) = f.call("eve", method, &path, body).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {body}");
    }
    assert_eq!(f.role_of(&id, "bob").await, Some(MemberRole::Member));
}

#[tokio::test]
async fn members_are_listed_and_only_owner_or_admin_manage_them() {
    let f = fixture().await;
    let id = f.organization(&["bob", "cat"]).await;
    let members = format!("/api/v1/app/organizations/{id}/members");

    let (status, list) = f.call("bob", "GET", &members, None).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["total"], 3);
    let roles: Vec<(&str, &str)> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["user_id"].as_str().unwrap(), m["role"].as_str().unwrap()))
        .collect();
    assert!(roles.contains(&("ann", "owner")) && roles.contains(&("cat", "member")));
    assert_eq!(
        list["items"][0]["email"]
            .as_str()
            .unwrap()
            .split('@')
            .nth(1),
        Some("example.com")
    );

    // A member may not change roles or remove others.
    let (status, _) = f
        .call(
            "bob",
            "PATCH",
            &format!("{members}/cat"),
            Some(r#"{"role": "viewer"}"#),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = f
        .call("bob", "DELETE", &format!("{members}/cat"), None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = f
        .call(
            "bob",
            "PATCH",
            &format!("/api/v1/app/organizations/{id}"),
            Some(r#"{"name": "Bob's"}"#),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // The owner makes bob an admin; bob then manages cat, but cannot transfer ownership.
    let (status, bob) = f
        .call(
            "ann",
            "PATCH",
            &format!("{members}/bob"),
            Some(r#"{"role": "admin"}"#),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{bob}");
    assert_eq!(bob["role"], "admin");
    let (status, _) = f
        .call(
            "bob",
            "PATCH",
            &format!("{members}/cat"),
            Some(r#"{"role": "viewer"}"#),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(f.role_of(&id, "cat").await, Some(MemberRole::Viewer));
    let (status, _) = f
        .call(
            "bob",
            "PATCH",
            &format!("{members}/cat"),
            Some(r#"{"role": "owner"}"#),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = f
        .call(
            "bob",
            "PATCH",
            &format!("{members}/cat"),
            Some(r#"{"role": "chief"}"#),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["details"]["field"], "role");

    let (status, _) = f
        .call("bob", "DELETE", &format!("{members}/cat"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(f.role_of(&id, "cat").await, None);
    assert_eq!(
        f.member_events().await,
        [
            ("member.removed".into(), "cat".into(), Value::Null),
            ("member.role_changed".into(), "bob".into(), "admin".into()),
            ("member.role_changed".into(), "cat".into(), "viewer".into()),
        ]
    );
    let (status, _) = f.call("cat", "GET", &members, None).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a removed member is an outsider"
    );
}

#[tokio::test]
async fn ownership_moves_only_by_transfer_and_the_owner_cannot_leave() {
    let f = fixture().await;
    let id = f.organization(&["bob"]).await;
    let members = format!("/api/v1/app/organizations/{id}/members");

    let (status, _) = f
        .call("ann", "DELETE", &format!("{members}/ann"), None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "the owner cannot leave");
    let (status, _) = f
        .call(
            "ann",
            "PATCH",
            &format!("{members}/ann"),
            Some(r#"{"role": "member"}"#),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "the owner is not demoted but by transfer"
    );

    let (status, body) = f
        .call(
            "ann",
            "PATCH",
            &format!("{members}/bob"),
            Some(r#"{"role": "owner"}"#),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(f.role_of(&id, "bob").await, Some(MemberRole::Owner));
    assert_eq!(f.role_of(&id, "ann").await, Some(MemberRole::Admin));
    let organization = f
        .organizations
        .get(&TenantId::new(&id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(organization.owner_id, "bob");

    // Ann, an admin now, may leave; only the owner deletes.
    let (status, _) = f
        .call(
            "ann",
            "DELETE",
            &format!("/api/v1/app/organizations/{id}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = f
        .call("ann", "DELETE", &format!("{members}/ann"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = f
        .call(
            "bob",
            "DELETE",
            &format!("/api/v1/app/organizations/{id}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = f
        .call(
            "bob",
            "GET",
            &format!("/api/v1/app/organizations/{id}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, list) = f
        .call("bob", "GET", "/api/v1/app/organizations", None)
        .await;
    assert_eq!(
        list["items"].as_array().unwrap().len(),
        1,
        "only the personal tenant"
    );
}

#[tokio::test]
async fn both_caps_hold_and_refused_joins_write_nothing() {
    let f = fixture().await;
    let id = f.organization(&["bob", "cat"]).await;
    assert_eq!(
        f.join(&id, "dan", MemberRole::Member).await,
        Joined::OrganizationFull
    );
    assert_eq!(
        f.join(&id, "bob", MemberRole::Member).await,
        Joined::AlreadyMember
    );
    assert_eq!(f.role_of(&id, "dan").await, None);

    // Ann owns one organization; a second is her cap, a third is refused.
    f.organization(&[]).await;
    let (status, body) = f
        .call(
            "ann",
            "POST",
            "/api/v1/app/organizations",
            Some(r#"{"name": "Third"}"#),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (_, list) = f
        .call("ann", "GET", "/api/v1/app/organizations", None)
        .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 3);

    let (status, body) = f
        .call(
            "eve",
            "POST",
            "/api/v1/app/organizations",
            Some(r#"{"name": "   "}"#),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["details"]["field"], "name");
}

#[tokio::test]
async fn concurrent_joins_and_removals_keep_the_member_count_exact() {
    let f = fixture().await;
    let id = f.organization(&[]).await;
    let users = ["bob", "cat", "dan", "eve"];
    // Cap 3: ann and two of the four get in, however they race.
    let joined = futures_util::future::join_all(
        users
            .iter()
            .map(|user| f.join(&id, user, MemberRole::Member)),
    )
    .await;
    assert_eq!(joined.iter().filter(|j| **j == Joined::Joined).count(), 2);
    let tenant = TenantId::new(&id);
    let in_now: Vec<String> = f
        .organizations
        .members(&tenant)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.user_id)
        .filter(|u| u != "ann")
        .collect();
    futures_util::future::join_all(
        in_now
            .iter()
            .map(|user| f.organizations.remove_member(&tenant, user)),
    )
    .await;
    // Room for exactly two again.
    let again = futures_util::future::join_all(
        users
            .iter()
            .map(|user| f.join(&id, user, MemberRole::Member)),
    )
    .await;
    assert_eq!(again.iter().filter(|j| **j == Joined::Joined).count(), 2);
    assert_eq!(f.organizations.members(&tenant).await.unwrap().len(), 3);
}

/// The issue's numbers: 25 users race for the 20 seats left, then the 20 members leave
/// together, then 20 race again: the count stays exact through both.
#[tokio::test]
async fn twenty_concurrent_joins_and_removals_keep_the_count_exact() {
    let f = fixture().await;
    let id = f.organization(&[]).await;
    let tenant = TenantId::new(&id);
    let limits = MembershipLimits {
        members_per_organization: 21,
        organizations_per_user: 5,
    };
    let join = |user: String| {
        let member = MembershipRecord {
            tenant_id: id.clone(),
            user_id: user,
            role: MemberRole::Member,
            joined_at: aloft_core::timestamp::now(),
        };
        let organizations = f.organizations.clone();
        async move { organizations.add_member(&member, limits).await.unwrap() }
    };
    let racers: Vec<String> = (0..25).map(|i| format!("racer-{i:02}")).collect();
    let joined = futures_util::future::join_all(racers.iter().cloned().map(join)).await;
    assert_eq!(joined.iter().filter(|j| **j == Joined::Joined).count(), 20);
    assert!(
        joined
            .iter()
            .all(|j| matches!(j, Joined::Joined | Joined::OrganizationFull))
    );

    let members: Vec<String> = f
        .organizations
        .members(&tenant)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.user_id)
        .filter(|u| u != "ann")
        .collect();
    assert_eq!(members.len(), 20);
    let removed = futures_util::future::join_all(
        members
            .iter()
            .map(|user| f.organizations.remove_member(&tenant, user)),
    )
    .await;
    assert!(removed.iter().all(Result::is_ok));

    let again = futures_util::future::join_all(racers.iter().cloned().map(join)).await;
    assert_eq!(
        again.iter().filter(|j| **j == Joined::Joined).count(),
        20,
        "every removal was uncounted once"
    );
    assert_eq!(f.organizations.members(&tenant).await.unwrap().len(), 21);
}
