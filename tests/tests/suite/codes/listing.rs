//! Codes: listing (filters, search, cursor pages) and the streamed export.
use super::*;

#[tokio::test]
async fn listing_filters_searches_and_pages() {
    let app = TestApp::spawn().await;
    let c = app.signup().await;
    app.set_billing_plan(c.tenant_id, "growth_monthly").await;
    let (pid, plan_a) = app.project_with_plan(&c).await;
    let plan_b = app.create_plan(&c, &pid, monthly_plan()).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut short = batch(&plan_a, 40);
    short["expiry"] = json!({"preset": "1d"});
    let batch_a = generate(&app, &c, &pid, short).await;
    let batch_b = generate(&app, &c, &pid, batch(&plan_b, 25)).await;

    let all = app.all_codes(&c, &pid, "").await;
    assert_eq!(all.len(), 65);
    let ids: HashSet<&str> = all.iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 65, "pages neither repeat nor skip");
    assert!(
        all.windows(2)
            .all(|w| w[0]["id"].as_str() > w[1]["id"].as_str()),
        "newest first"
    );
    assert_eq!(
        app.all_codes(&c, &pid, &format!("&plan_id={plan_b}"))
            .await
            .len(),
        25
    );
    assert_eq!(
        app.all_codes(&c, &pid, &format!("&batch_id={batch_a}"))
            .await
            .len(),
        40
    );
    assert_eq!(
        app.all_codes(&c, &pid, &format!("&batch_id={batch_b}&plan_id={plan_a}"))
            .await
            .len(),
        0
    );

    let target = all
        .iter()
        .find(|c| c["batch_id"] == batch_b.as_str())
        .unwrap();
    mark_redeemed(&app, target["id"].as_str().unwrap()).await;
    assert_eq!(app.all_codes(&c, &pid, "&status=redeemed").await.len(), 1);
    assert_eq!(
        app.all_codes(&c, &pid, "&status=unredeemed").await.len(),
        64
    );
    assert_eq!(app.all_codes(&c, &pid, "&status=expired").await.len(), 0);
    let tomorrow =
        (Utc::now() + Duration::hours(23)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let day_after =
        (Utc::now() + Duration::hours(49)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    assert_eq!(
        app.all_codes(
            &c,
            &pid,
            &format!("&expires_after={tomorrow}&expires_before={day_after}")
        )
        .await
        .len(),
        40
    );
    app.clock.advance(Duration::days(2));
    let c = app.relogin(&c).await;
    assert_eq!(app.all_codes(&c, &pid, "&status=expired").await.len(), 40);
    assert_eq!(
        app.all_codes(&c, &pid, "&status=unredeemed").await.len(),
        24
    );

    // Search normalises what is typed: lower case, dashes, spaces, O for 0, I/L for 1.
    let code = target["code"].as_str().unwrap();
    let typed = typed_like_a_person(code, 'o');
    let found = app
        .all_codes(
            &c,
            &pid,
            &format!("&q={}", urlencode(&format!(" {typed} "))),
        )
        .await;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["code"], code);
    let prefix = app.all_codes(&c, &pid, &format!("&q={}", &code[..6])).await;
    assert!(prefix.iter().any(|c| c["code"] == code));

    // The export is the filtered view.
    let csv = app
        .http
        .get(app.url(&format!(
            "/api/v1/projects/{pid}/codes/export.csv?status=expired"
        )))
        .bearer_auth(&c.token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(csv.lines().count(), 41);
}

#[tokio::test]
async fn a_large_export_streams_every_row() {
    let app = TestApp::spawn().await;
    let c = app.signup().await;
    app.set_billing_plan(c.tenant_id, "growth_annual").await;
    let (pid, plan) = app.project_with_plan(&c).await;
    for _ in 0..3 {
        generate(&app, &c, &pid, batch(&plan, 1000)).await;
    }
    let resp = app
        .http
        .get(app.url(&format!("/api/v1/projects/{pid}/codes/export.csv")))
        .bearer_auth(&c.token)
        .send()
        .await
        .unwrap();
    assert!(
        resp.headers().get("content-length").is_none(),
        "streamed, not buffered"
    );
    let text = resp.text().await.unwrap();
    let codes: HashSet<&str> = text.lines().skip(1).map(|l| &l[..12]).collect();
    assert_eq!(codes.len(), 3000);
}

/// Sets a code's text directly, to put codes on the edges of a search range.
async fn set_code(app: &TestApp, code_id: &str, code: &str) {
    let m = entity::access_code::Entity::find_by_id(code_id.parse::<Uuid>().unwrap())
        .one(&app.ctx.db)
        .await
        .unwrap()
        .unwrap();
    let mut am = m.into_active_model();
    am.code = Set(code.to_string());
    am.update(&app.ctx.db).await.unwrap();
}

/// Search by a whole code is one equality and by a beginning a range over the code index;
/// through the API both return exactly the codes that start with what was typed: beginnings
/// whose bound carries (ending in Z, `9` before `A`, no `I` after `H`), one with no upper
/// bound (all Z), on PostgreSQL and SQLite, and never another project's codes.
#[tokio::test]
async fn search_by_whole_code_and_by_beginning_returns_exactly_the_matching_codes() {
    for backend in [Backend::Postgres, Backend::Sqlite] {
        let app = TestApp::spawn_on(backend, HashMap::new()).await;
        let c = app.signup().await;
        app.set_billing_plan(c.tenant_id, "growth_monthly").await;
        let (pid, plan) = app.project_with_plan(&c).await;
        let (other_pid, other_plan) = app.project_with_plan(&c).await;
        generate(&app, &c, &pid, batch(&plan, 200)).await;
        generate(&app, &c, &other_pid, batch(&other_plan, 50)).await;
        let all = app.all_codes(&c, &pid, "").await;
        // Codes on the edges of the ranges the beginnings below make.
        let edges = [
            "AZZZZZZZZZZZ",
            "B00000000000",
            "ZZZZZZZZZZZZ",
            "H99999999999",
            "J00000000000",
            "999999999999",
            "A00000000000",
        ];
        for (code, row) in edges.iter().zip(&all) {
            set_code(&app, row["id"].as_str().unwrap(), code).await;
        }
        let other = app.all_codes(&c, &other_pid, "").await;
        set_code(&app, other[0]["id"].as_str().unwrap(), "AZZZZZZZZZZY").await;
        let codes: Vec<String> = app
            .all_codes(&c, &pid, "")
            .await
            .iter()
            .map(|c| c["code"].as_str().unwrap().to_string())
            .collect();

        let search = |q: String| {
            let (app, c, pid) = (&app, &c, &pid);
            async move {
                let mut got: Vec<String> = app
                    .all_codes(c, pid, &format!("&q={}", urlencode(&q)))
                    .await
                    .iter()
                    .map(|c| c["code"].as_str().unwrap().to_string())
                    .collect();
                got.sort();
                got
            }
        };
        // A whole code, typed as a person would: that code alone.
        let target = codes.iter().find(|c| !edges.contains(&c.as_str())).unwrap();
        assert_eq!(
            search(typed_like_a_person(target, 'o')).await,
            vec![target.clone()],
            "{backend:?}: whole code"
        );
        assert_eq!(search("AZZZZZZZZZZZ".into()).await, vec!["AZZZZZZZZZZZ"]);
        assert!(
            search("AZZZZZZZZZZY".into()).await.is_empty(),
            "other project"
        );
        let mut beginnings: Vec<String> = ["A", "AZ", "AZZZZ", "B", "Z", "ZZ", "H", "H9", "9", "J"]
            .into_iter()
            .map(str::to_string)
            .collect();
        beginnings.extend([target[..1].to_string(), target[..3].to_string()]);
        beginnings.push(target[..CODE_LEN - 1].to_string());
        for b in beginnings {
            let mut want: Vec<String> = codes
                .iter()
                .filter(|c| c.starts_with(b.as_str()))
                .cloned()
                .collect();
            want.sort();
            assert_eq!(
                search(b.to_lowercase()).await,
                want,
                "{backend:?}: beginning {b}"
            );
        }
    }
}
