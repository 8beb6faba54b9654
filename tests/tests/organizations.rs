//! Organizations through the running stack, as a real client: created by a signed-in
//! person, listed after their personal tenant, renamed and deleted by their owner, and
//! not found by anyone else.

use aloft_e2e::{Stack, eventually};
use reqwest::{Method, StatusCode};

#[tokio::test]
async fn an_organization_is_its_owners_and_nobody_elses() {
    let stack = Stack::new();
    let (owner, _) = stack.new_user("org-owner").await;
    let (outsider, _) = stack.new_user("org-outsider").await;

    let created = stack
        .call(
            &owner,
            Method::POST,
            "/api/v2/app/organizations",
            r#"{"name": "Acme"}"#,
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let organization = created.json()["data"].clone();
    assert_eq!(organization["kind"], "organization");
    assert_eq!(organization["role"], "owner");
    let id = organization["id"].as_str().unwrap_or_default().to_owned();
    let path = format!("/api/v1/app/organizations/{id}");

    let listed = stack
        .call(&owner, Method::GET, "/api/v1/app/organizations", "")
        .await;
    let items = listed.json()["items"].clone();
    assert_eq!(items[0]["kind"], "personal");
    assert_eq!(items[1]["id"], id.as_str());

    let renamed = stack
        .call(&owner, Method::PATCH, &path, r#"{"name": "Acme Inc"}"#)
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.text);
    assert_eq!(renamed.json()["name"], "Acme Inc");

    for (method, target, body) in [
        (Method::GET, path.clone(), ""),
        (Method::PATCH, path.clone(), r#"{"name": "Mine"}"#),
        (Method::DELETE, path.clone(), ""),
        (Method::GET, format!("{path}/members"), ""),
    ] {
        let answer = stack.call(&outsider, method.clone(), &target, body).await;
        assert_eq!(
            answer.status,
            StatusCode::NOT_FOUND,
            "{method} {target}: {}",
            answer.text
        );
    }

    let members = stack
        .call(&owner, Method::GET, &format!("{path}/members"), "")
        .await
        .json();
    assert_eq!(members["total"], 1);
    assert_eq!(members["items"][0]["role"], "owner");

    let deleted = stack.call(&owner, Method::DELETE, &path, "").await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.text);
    let gone = stack.call(&owner, Method::GET, &path, "").await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
}

/// An invitation travels by mail; only its addressee, verified, may use it, once.
#[tokio::test]
async fn an_invitation_is_mailed_and_joins_only_its_verified_addressee_once() {
    let stack = Stack::new();
    let (owner, _) = stack.new_user("inv-owner").await;
    let (guest, guest_email) = stack.new_user("inv-guest").await;
    let (stranger, _) = stack.new_user("inv-stranger").await;
    let id = stack.create_organization(&owner, "Team").await;
    let invitations = format!("/api/v1/app/organizations/{id}/invitations");

    let personal = stack
        .call(&owner, Method::GET, "/api/v1/app/organizations", "")
        .await;
    let personal_id = personal.json()["items"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let refused = stack
        .call(
            &owner,
            Method::POST,
            &format!("/api/v1/app/organizations/{personal_id}/invitations"),
            &format!(r#"{{"email": "{guest_email}", "role": "member"}}"#),
        )
        .await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.text
    );

    let invited = stack
        .call(
            &owner,
            Method::POST,
            &invitations,
            &format!(
                r#"{{"email": "{}", "role": "viewer"}}"#,
                guest_email.to_uppercase()
            ),
        )
        .await;
    assert_eq!(invited.status, StatusCode::CREATED, "{}", invited.text);
    assert_eq!(invited.json()["email"], guest_email.as_str());
    let listed = stack.call(&owner, Method::GET, &invitations, "").await;
    assert_eq!(listed.json()["items"].as_array().map(Vec::len), Some(1));

    let token = stack
        .newest_link_token(&guest_email, "accept-invitation")
        .await;
    let accept = format!(r#"{{"token": "{token}"}}"#);
    let path = "/api/v1/app/invitations/accept";

    // Another user, and the addressee before verifying, are refused; nothing is used up.
    let other = stack.call(&stranger, Method::POST, path, &accept).await;
    assert_eq!(other.status, StatusCode::FORBIDDEN, "{}", other.text);
    let unverified = stack.call(&guest, Method::POST, path, &accept).await;
    assert_eq!(
        unverified.status,
        StatusCode::FORBIDDEN,
        "{}",
        unverified.text
    );

    let verify = stack.newest_link_token(&guest_email, "verify-email").await;
    let verified = stack
        .auth("verify-email", &format!(r#"{{"token": "{verify}"}}"#))
        .await;
    assert_eq!(verified.status, StatusCode::OK, "{}", verified.text);
    let joined = stack.call(&guest, Method::POST, path, &accept).await;
    assert_eq!(joined.status, StatusCode::OK, "{}", joined.text);
    assert_eq!(joined.json()["organization"]["id"], id.as_str());
    assert_eq!(joined.json()["role"], "viewer");

    let again = stack.call(&guest, Method::POST, path, &accept).await;
    assert_eq!(
        again.status,
        StatusCode::BAD_REQUEST,
        "a link joins once: {}",
        again.text
    );
    let members = stack
        .call(
            &guest,
            Method::GET,
            &format!("/api/v1/app/organizations/{id}/members"),
            "",
        )
        .await;
    assert_eq!(members.json()["total"], 2);
    let listed = stack.call(&owner, Method::GET, &invitations, "").await;
    assert_eq!(listed.json()["items"].as_array().map(Vec::len), Some(0));

    let twice = stack
        .call(
            &owner,
            Method::POST,
            &invitations,
            &format!(r#"{{"email": "{guest_email}", "role": "member"}}"#),
        )
        .await;
    assert_eq!(
        twice.status,
        StatusCode::CONFLICT,
        "already a member: {}",
        twice.text
    );
}

#[tokio::test]
async fn a_revoked_invitation_link_stops_working() {
    let stack = Stack::new();
    let (owner, _) = stack.new_user("rev-owner").await;
    let (_, guest_email) = stack.new_user("rev-guest").await;
    let id = stack.create_organization(&owner, "Team").await;
    let invitations = format!("/api/v1/app/organizations/{id}/invitations");
    let invited = stack
        .call(
            &owner,
            Method::POST,
            &invitations,
            &format!(r#"{{"email": "{guest_email}", "role": "member"}}"#),
        )
        .await;
    let invitation = invited.json()["id"].as_str().unwrap_or_default().to_owned();
    let token = stack
        .newest_link_token(&guest_email, "accept-invitation")
        .await;

    let revoked = stack
        .call(
            &owner,
            Method::DELETE,
            &format!("{invitations}/{invitation}"),
            "",
        )
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT, "{}", revoked.text);
    let guest = stack
        .sign_in(&format!(
            r#"{{"email": "{guest_email}", "password": "correct horse"}}"#
        ))
        .await;
    let accept = stack
        .call(
            &guest,
            Method::POST,
            "/api/v1/app/invitations/accept",
            &format!(r#"{{"token": "{token}"}}"#),
        )
        .await;
    assert_eq!(accept.status, StatusCode::BAD_REQUEST, "{}", accept.text);
}

fn project_names(page: &serde_json::Value) -> Vec<String> {
    page["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|p| p["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Members share the organization's projects; a viewer only reads; a role change and a
/// removal take effect on the member's very next request.
#[tokio::test]
async fn members_share_the_tenant_and_changes_apply_on_the_next_request() {
    let stack = Stack::new();
    let (owner, _) = stack.new_user("team-owner").await;
    let id = stack.create_organization(&owner, "Team").await;
    let guest = stack.join(&owner, &id, "member", "team-guest").await;

    let owner_in = stack.switch(&owner, &id).await;
    let made = stack
        .call(
            &owner_in,
            Method::POST,
            "/api/v1/app/projects",
            r#"{"name": "Team plan"}"#,
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
    let personal = stack
        .call(&owner, Method::GET, "/api/v1/app/projects", "")
        .await;
    assert!(!project_names(&personal.json()).contains(&"Team plan".to_owned()));

    let guest_in = stack.switch(&guest, &id).await;
    let seen = stack
        .call(&guest_in, Method::GET, "/api/v1/app/projects", "")
        .await;
    assert_eq!(project_names(&seen.json()), ["Team plan"]);
    // The owner's upload is the team's: the member lists and downloads it.
    let file_id = stack
        .upload_file(&owner_in, "team.txt", b"team notes")
        .await;
    let files = stack
        .call(&guest_in, Method::GET, "/api/v1/app/files", "")
        .await;
    assert_eq!(
        files.json()["items"][0]["id"],
        file_id.as_str(),
        "{}",
        files.text
    );
    let download = stack
        .call(
            &guest_in,
            Method::GET,
            &format!("/api/v1/app/files/{file_id}/download-url"),
            "",
        )
        .await;
    let url = download.json()["download_url"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let fetched = reqwest::get(&url).await.map(|r| r.status());
    assert_eq!(fetched.ok(), Some(StatusCode::OK), "{url}");
    let personal_files = stack
        .call(&guest, Method::GET, "/api/v1/app/files", "")
        .await;
    assert_eq!(
        personal_files.json()["total"],
        0,
        "not in their personal tenant"
    );
    let theirs = stack
        .call(
            &guest_in,
            Method::POST,
            "/api/v1/app/projects",
            r#"{"name": "Guest plan"}"#,
        )
        .await;
    assert_eq!(
        theirs.status,
        StatusCode::CREATED,
        "a member writes: {}",
        theirs.text
    );

    // Made a viewer: the member's token stops at once; a new one only reads.
    let guest_id = stack.user_id(&guest).await;
    let members = format!("/api/v1/app/organizations/{id}/members/{guest_id}");
    let demoted = stack
        .call(&owner, Method::PATCH, &members, r#"{"role": "viewer"}"#)
        .await;
    assert_eq!(demoted.status, StatusCode::OK, "{}", demoted.text);
    let stale = stack
        .call(&guest_in, Method::GET, "/api/v1/app/projects", "")
        .await;
    assert_eq!(stale.status, StatusCode::UNAUTHORIZED, "{}", stale.text);
    let viewer_in = stack.switch(&guest, &id).await;
    let read = stack
        .call(&viewer_in, Method::GET, "/api/v1/app/projects", "")
        .await;
    assert_eq!(read.status, StatusCode::OK);
    let write = stack
        .call(
            &viewer_in,
            Method::POST,
            "/api/v1/app/projects",
            r#"{"name": "No"}"#,
        )
        .await;
    assert_eq!(write.status, StatusCode::FORBIDDEN, "{}", write.text);

    // Removed: the next request is refused, and the organization is gone for them.
    let removed = stack.call(&owner, Method::DELETE, &members, "").await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT, "{}", removed.text);
    let after = stack
        .call(&viewer_in, Method::GET, "/api/v1/app/projects", "")
        .await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED, "{}", after.text);
    let again = stack
        .call(
            &guest,
            Method::POST,
            &format!("/api/v1/app/organizations/{id}/switch"),
            "",
        )
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    let own = stack
        .call(&guest, Method::GET, "/api/v1/app/projects", "")
        .await;
    assert_eq!(
        own.status,
        StatusCode::OK,
        "their personal tenant still works"
    );

    // Every change is in the organization's audit log, for its owner and admins only.
    let log = format!("/api/v1/app/organizations/{id}/audit-logs");
    let entries = stack.call(&owner, Method::GET, &log, "").await;
    assert_eq!(entries.status, StatusCode::OK, "{}", entries.text);
    let actions: Vec<String> = entries.json()["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["action"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(
        actions,
        [
            "member.removed",
            "member.role_changed",
            "member.added",
            "invitation.create",
            "organization.create"
        ]
    );
    let changed = stack
        .call(
            &owner,
            Method::GET,
            &format!("{log}?action=member.role_changed"),
            "",
        )
        .await
        .json();
    let change = &changed["items"][0];
    assert_eq!(change["resource_id"], guest_id.as_str());
    assert_eq!(change["details"]["before"]["role"], "member");
    assert_eq!(change["details"]["after"]["role"], "viewer");
    let outsider = stack.call(&guest, Method::GET, &log, "").await;
    assert_eq!(outsider.status, StatusCode::NOT_FOUND, "{}", outsider.text);
}

/// A key made while acting in an organization acts there, with its maker's role there as
/// it is at each use; it stops when they leave. Their personal key is untouched.
#[tokio::test]
async fn an_organization_key_follows_its_makers_membership() {
    let stack = Stack::new();
    let (owner, _) = stack.new_user("keys-owner").await;
    let id = stack.create_organization(&owner, "Keyed").await;
    let owner_in = stack.switch(&owner, &id).await;
    stack
        .call(
            &owner_in,
            Method::POST,
            "/api/v1/app/projects",
            r#"{"name": "Keyed plan"}"#,
        )
        .await;
    let guest = stack.join(&owner, &id, "member", "keys-guest").await;
    let guest_in = stack.switch(&guest, &id).await;
    let new_key = async |bearer: &str| {
        let made = stack
            .call(
                bearer,
                Method::POST,
                "/api/v1/app/api-keys",
                r#"{"name": "ci"}"#,
            )
            .await;
        assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
        made.json()["secret"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    let log = format!("/api/v1/app/organizations/{id}/audit-logs");
    let not_admin = stack.call(&guest, Method::GET, &log, "").await;
    assert_eq!(
        not_admin.status,
        StatusCode::FORBIDDEN,
        "{}",
        not_admin.text
    );
    let team_key = new_key(&guest_in).await;
    let own_key = new_key(&guest).await;
    let listed = async |bearer: &str| {
        stack
            .call(bearer, Method::GET, "/api/v1/app/api-keys", "")
            .await
            .json()["items"]
            .as_array()
            .map_or(0, Vec::len)
    };
    assert_eq!(listed(&guest_in).await, 1, "the organization's key only");
    assert_eq!(listed(&guest).await, 1, "the personal key only");
    let with_key = async |key: &str, method: Method, body: &str| {
        stack
            .send_body(
                method,
                "/api/v1/app/projects",
                &[("x-api-key", key), ("content-type", "application/json")],
                body,
            )
            .await
    };
    let seen = with_key(&team_key, Method::GET, "").await;
    assert_eq!(project_names(&seen.json()), ["Keyed plan"], "{}", seen.text);
    let wrote = with_key(&team_key, Method::POST, r#"{"name": "By key"}"#).await;
    assert_eq!(wrote.status, StatusCode::CREATED, "{}", wrote.text);

    // Made a viewer: the key reads on, and its writes are refused from the next request.
    let guest_id = stack.user_id(&guest).await;
    let membership = format!("/api/v1/app/organizations/{id}/members/{guest_id}");
    let demoted = stack
        .call(&owner, Method::PATCH, &membership, r#"{"role": "viewer"}"#)
        .await;
    assert_eq!(demoted.status, StatusCode::OK, "{}", demoted.text);
    let read = with_key(&team_key, Method::GET, "").await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.text);
    let write = with_key(&team_key, Method::POST, r#"{"name": "No"}"#).await;
    assert_eq!(write.status, StatusCode::FORBIDDEN, "{}", write.text);

    // Removed: the organization's key is refused, the personal one still works.
    let removed = stack.call(&owner, Method::DELETE, &membership, "").await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT, "{}", removed.text);
    let gone = with_key(&team_key, Method::GET, "").await;
    assert_eq!(gone.status, StatusCode::UNAUTHORIZED, "{}", gone.text);
    let own = with_key(&own_key, Method::GET, "").await;
    assert_eq!(own.status, StatusCode::OK, "{}", own.text);
    assert!(!project_names(&own.json()).contains(&"Keyed plan".to_owned()));
}

/// In an organization, AI use is the organization's, pooled: its usage report counts
/// every member's, its owner and admins see each member's share, and the member's own
/// report does not count it.
#[tokio::test]
async fn an_organizations_ai_use_is_pooled_and_split_by_member() {
    let stack = Stack::new();
    let (owner, _) = stack.new_user("pool-owner").await;
    let id = stack.create_organization(&owner, "Pool").await;
    let guest = stack.join(&owner, &id, "member", "pool-guest").await;
    let owner_in = stack.switch(&owner, &id).await;
    let guest_in = stack.switch(&guest, &id).await;
    for bearer in [&owner_in, &guest_in, &guest_in] {
        let chat = stack
            .call(
                bearer,
                Method::POST,
                "/api/v1/app/ai/chat",
                r#"{"prompt": "Hello"}"#,
            )
            .await;
        assert_eq!(chat.status, StatusCode::OK, "{}", chat.text);
    }
    let tokens = async |bearer: &str| {
        let current = stack
            .call(bearer, Method::GET, "/api/v1/app/usage/current-period", "")
            .await;
        current.json()["ai_tokens"].as_i64().unwrap_or(-1)
    };
    let by_member = eventually("three calls in the organization's usage", async || {
        let shares = stack
            .call(&owner_in, Method::GET, "/api/v1/app/usage/members", "")
            .await
            .json();
        let requests = shares["metrics"]
            .as_array()?
            .iter()
            .find(|m| m["metric"] == "ai_requests")?
            .clone();
        (requests["total"] == 3).then_some(shares)
    })
    .await;
    let metric = |key: &str| {
        by_member["metrics"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|m| m["metric"] == key)
            .cloned()
            .unwrap_or_default()
    };
    let requests = metric("ai_requests");
    assert_eq!(requests["members"][0]["value"], 2, "{requests}");
    assert_eq!(requests["members"][1]["value"], 1, "{requests}");
    assert!(
        requests["members"][0]["email"]
            .as_str()
            .is_some_and(|e| e.contains("pool-guest"))
    );
    let pooled = metric("ai_tokens")["total"].as_i64().unwrap_or(0);
    assert!(pooled > 0);
    assert_eq!(tokens(&guest_in).await, pooled, "the organization's report");
    assert_eq!(tokens(&guest).await, 0, "not the member's own");
    let refused = stack
        .call(&guest_in, Method::GET, "/api/v1/app/usage/members", "")
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text);
}

/// Admins list organizations (a search by name) and read one with its members; nobody
/// else may.
#[tokio::test]
async fn admins_list_and_inspect_organizations() {
    let stack = Stack::new();
    let (owner, _) = stack.new_user("admin-view-owner").await;
    let name = aloft_e2e::unique("Inspected");
    let id = stack.create_organization(&owner, &name).await;
    stack.join(&owner, &id, "viewer", "admin-view-guest").await;
    let admin = stack.admin().await;
    let search = format!("/api/v1/admin/organizations?search={}", name.to_uppercase());
    let found = stack.call(&admin, Method::GET, &search, "").await;
    assert_eq!(found.status, StatusCode::OK, "{}", found.text);
    let page = found.json();
    assert_eq!(page["total"], 1, "{page}");
    assert_eq!(page["items"][0]["id"], id.as_str());
    assert_eq!(page["items"][0]["member_count"], 2);
    assert_eq!(page["items"][0]["subscription_plan"], "free");

    let one = stack
        .call(
            &admin,
            Method::GET,
            &format!("/api/v1/admin/organizations/{id}"),
            "",
        )
        .await;
    assert_eq!(one.status, StatusCode::OK, "{}", one.text);
    let mut roles: Vec<String> = one.json()["members"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["role"].as_str().map(str::to_owned))
        .collect();
    roles.sort();
    assert_eq!(roles, ["owner", "viewer"]);
    let missing = stack
        .call(&admin, Method::GET, "/api/v1/admin/organizations/nope", "")
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let refused = stack
        .call(&owner, Method::GET, "/api/v1/admin/organizations", "")
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text);
}

/// An organization's own provider keys: only its owner and admins store them, nobody
/// reads them back; required and missing, an AI call is 424, and with its key it works.
#[tokio::test]
async fn an_organizations_own_provider_keys_are_write_only_and_required_when_set() {
    let stack = Stack::new();
    let (owner, _) = stack.new_user("keys-org-owner").await;
    let id = stack.create_organization(&owner, "Own keys").await;
    let guest = stack.join(&owner, &id, "member", "keys-org-guest").await;
    let owner_in = stack.switch(&owner, &id).await;
    let guest_in = stack.switch(&guest, &id).await;
    let chat = async |bearer: &str| {
        stack
            .call(
                bearer,
                Method::POST,
                "/api/v1/app/ai/chat",
                r#"{"prompt": "Hi"}"#,
            )
            .await
    };

    let required = stack
        .call(
            &owner,
            Method::PATCH,
            &format!("/api/v1/app/organizations/{id}"),
            r#"{"require_own_credentials": true}"#,
        )
        .await;
    assert_eq!(required.status, StatusCode::OK, "{}", required.text);
    assert_eq!(required.json()["require_own_credentials"], true);
    let refused = chat(&guest_in).await;
    assert_eq!(
        refused.status,
        StatusCode::FAILED_DEPENDENCY,
        "{}",
        refused.text
    );
    assert_eq!(
        refused.json()["error"]["code"],
        "MISSING_TENANT_CREDENTIALS"
    );

    let openai = format!("/api/v1/app/organizations/{id}/credentials/openai");
    // The local stack's fake provider accepts only this key.
    let key = format!(
        r#"{{"api_key": "{}"}}"#,
        aloft_testkit::fake_ai::FAKE_OPENAI_KEY
    );
    let by_member = stack.call(&guest, Method::PUT, &openai, &key).await;
    assert_eq!(
        by_member.status,
        StatusCode::FORBIDDEN,
        "{}",
        by_member.text
    );
    let unknown = stack
        .call(
            &owner,
            Method::PUT,
            &format!("/api/v1/app/organizations/{id}/credentials/mistral"),
            &key,
        )
        .await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
    let stored = stack.call(&owner, Method::PUT, &openai, &key).await;
    assert_eq!(stored.status, StatusCode::OK, "{}", stored.text);
    assert_eq!(stored.json()["last4"], "6789");
    let listed = stack
        .call(
            &owner,
            Method::GET,
            &format!("/api/v1/app/organizations/{id}/credentials"),
            "",
        )
        .await;
    assert!(!listed.text.contains("sk-fake"), "{}", listed.text);
    assert_eq!(listed.json()["items"][0]["provider"], "openai");

    let answered = chat(&guest_in).await;
    assert_eq!(answered.status, StatusCode::OK, "{}", answered.text);
    assert_eq!(answered.json()["provider"], "openai");
    let personal = chat(&owner).await;
    assert_eq!(
        personal.status,
        StatusCode::OK,
        "the deployment's keys outside it"
    );

    let deleted = stack.call(&owner_in, Method::DELETE, &openai, "").await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.text);
    assert_eq!(chat(&guest_in).await.status, StatusCode::FAILED_DEPENDENCY);
}
