//! Organizations through the users function's router against the local emulator:
//! creation, the caller's tenants, members and their roles, and what an outsider sees.
//! Members join here through the store, or by accepting an invitation whose link is
//! minted here (minting and mailing it is the jobs worker's).
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a panic with the value is the report"
)]

use aloft_http::HttpConfig;
use aloft_store::{
    InvitationRecord, JobRepo, JobStatus, Joined, MemberRole, MembershipLimits, MembershipRecord,
    OrganizationRepo, Table, TenantId, UserRecord, UserRepo,
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
        // Verified: an invitation to their address is theirs to accept.
        let user = UserRecord {
            email_verified: true,
            ..aloft_testkit::user_record(id)
        };
        users.create(&user).await.unwrap();
    }
    Fixture {
        app,
        organizations: OrganizationRepo::new(table.clone()),
        jobs: JobRepo::new(table),
    }
}

impl Fixture {
    /// The `member.*` events stored (a fan-out job each), as `(event, user_id, role)`,
    /// sorted.
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

    /// An open invitation of `user`'s address to organization `id` as `role`, and the
    /// token of its link (minted here, as the jobs worker would).
    async fn invite(&self, id: &str, user: &str, role: MemberRole) -> String {
        let invitation = InvitationRecord {
            id: uuid::Uuid::now_v7().to_string(),
            tenant_id: id.to_owned(),
            email: format!("{user}@example.com"),
            role,
            invited_by: "ann".into(),
            created_at: aloft_core::timestamp::now(),
            expires_at: aloft_core::timestamp::unix_now() + 3600,
            token_hash: None,
        };
        self.organizations.invite(&invitation).await.unwrap();
        let token = format!("token-{}", invitation.id);
        let hash = aloft_auth::opaque::secret_hash(&token);
        self.organizations
            .issue_invitation(&invitation, &hash)
            .await
            .unwrap();
        token
    }

    async fn accept(&self, user: &str, token: &str) -> (StatusCode, Value) {
        let body = format!(r#"{{"token": "{token}"}}"#);
        let path = "/api/v1/app/invitations/accept";
        self.call(user, "POST", path, Some(&body)).await
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
            .map(|user| f.organizations.remove_member(&tenant, user, Vec::new())),
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
            .map(|user| f.organizations.remove_member(&tenant, user, Vec::new())),
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

#[tokio::test]
async fn a_role_change_and_a_removal_each_store_one_event_and_refused_changes_none() {
    let f = fixture().await;
    let id = f.organization(&["bob", "cat"]).await;
    let members = format!("/api/v1/app/organizations/{id}/members");
    let to_viewer = Some(r#"{"role": "viewer"}"#);

    // Refused (409): the owner's role changes only by transfer; the owner cannot leave.
    let (status, _) = f
        .call("ann", "PATCH", &format!("{members}/ann"), to_viewer)
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = f
        .call("ann", "DELETE", &format!("{members}/ann"), None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(f.member_events().await.is_empty());

    let (status, body) = f
        .call("ann", "PATCH", &format!("{members}/cat"), to_viewer)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        f.member_events().await,
        [("member.role_changed".into(), "cat".into(), "viewer".into())]
    );
    let (status, _) = f
        .call("ann", "DELETE", &format!("{members}/cat"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // Removed already: nothing more is written.
    let (status, _) = f
        .call("ann", "DELETE", &format!("{members}/cat"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        f.member_events().await,
        [
            ("member.removed".into(), "cat".into(), Value::Null),
            ("member.role_changed".into(), "cat".into(), "viewer".into()),
        ]
    );
}

#[tokio::test]
async fn a_transfer_stores_both_role_changes_and_a_refused_one_none() {
    let f = fixture().await;
    let id = f.organization(&["bob", "cat"]).await;
    let members = format!("/api/v1/app/organizations/{id}/members");
    let (to_bob, to_cat) = (format!("{members}/bob"), format!("{members}/cat"));
    let to_owner = Some(r#"{"role": "owner"}"#);

    // Two transfers at once: the one that loses is refused, by the transaction (409,
    // ownership moved meanwhile) or by the read before it (403, no longer the owner).
    let (bob, cat) = tokio::join!(
        f.call("ann", "PATCH", &to_bob, to_owner),
        f.call("ann", "PATCH", &to_cat, to_owner),
    );
    let answers = [bob.0, cat.0];
    for (status, body) in [&bob, &cat] {
        let expected = [StatusCode::OK, StatusCode::FORBIDDEN, StatusCode::CONFLICT];
        assert!(expected.contains(status), "{status}: {body}");
    }
    let made = answers.iter().filter(|s| **s == StatusCode::OK).count();
    assert!(made >= 1, "{answers:?}");

    // Each transfer made stored its two role changes with it; a refused one, none.
    let events = f.member_events().await;
    assert_eq!(events.len(), 2 * made, "{events:?}");
    assert!(
        events
            .iter()
            .all(|(event, _, _)| event == "member.role_changed")
    );
    let ann: Vec<&Value> = events
        .iter()
        .filter(|(_, user, _)| user == "ann")
        .map(|(_, _, role)| role)
        .collect();
    assert_eq!(ann, [&Value::from("admin")], "the old owner, once");
}

#[tokio::test]
async fn a_removal_raced_by_the_members_leaving_stores_one_event() {
    let f = fixture().await;
    let id = f.organization(&["bob"]).await;
    let bob = format!("/api/v1/app/organizations/{id}/members/bob");

    // However they interleave, bob is removed once: the request whose transaction is
    // refused (already removed) answers 204 too, having written nothing.
    let (removed, left) = tokio::join!(
        f.call("ann", "DELETE", &bob, None),
        f.call("bob", "DELETE", &bob, None),
    );
    let answers = [removed.0, left.0];
    assert!(answers.contains(&StatusCode::NO_CONTENT), "{answers:?}");
    let expected = [StatusCode::NO_CONTENT, StatusCode::NOT_FOUND];
    assert!(answers.iter().all(|s| expected.contains(s)), "{answers:?}");
    assert_eq!(f.role_of(&id, "bob").await, None);
    assert_eq!(
        f.member_events().await,
        [("member.removed".into(), "bob".into(), Value::Null)]
    );
}

#[tokio::test]
async fn an_accepted_invitation_stores_one_event_and_a_refused_acceptance_none() {
    let f = fixture().await;
    let id = f.organization(&["bob"]).await;
    let first = f.invite(&id, "dan", MemberRole::Viewer).await;
    let second = f.invite(&id, "dan", MemberRole::Admin).await;

    let (status, body) = f.accept("dan", &first).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["role"], "viewer");
    // A member already: the acceptance's transaction is refused, its event with it.
    let (status, body) = f.accept("dan", &second).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    // A used link.
    let (status, _) = f.accept("dan", &first).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    assert_eq!(f.role_of(&id, "dan").await, Some(MemberRole::Viewer));
    assert_eq!(
        f.member_events().await,
        [("member.added".into(), "dan".into(), "viewer".into())]
    );
}
