//! `GET /api/history` and `GET /api/history.csv`: the event history,
//! filtered, newest first, behind the API's read access. Each request opens
//! the database read-only on a blocking thread: a search never waits for,
//! or holds up, the writer or the core.

use super::{error, ApiState, CanRead};
use crate::history::{Entry, Filter, Store};
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

async fn search(
    state: &ApiState,
    filter: Result<Query<Filter>, axum::extract::rejection::QueryRejection>,
) -> Result<(Vec<Entry>, usize, chrono_tz::Tz), Response> {
    let Some(access) = state.history.clone() else {
        return Err(error(
            StatusCode::NOT_FOUND,
            "no history is kept: add a [history] section to the rules file",
        ));
    };
    let Query(filter) = filter.map_err(|e| error(StatusCode::BAD_REQUEST, &e.body_text()))?;
    let query = filter
        .query(chrono::Utc::now(), access.timezone)
        .map_err(|why| error(StatusCode::BAD_REQUEST, &why))?;
    let limit = query.limit;
    let dir = access.dir.clone();
    let rows = tokio::task::spawn_blocking(move || Store::open_read(&dir).and_then(|s| s.search(&query)))
        .await
        .map_err(|_| error(StatusCode::INTERNAL_SERVER_ERROR, "the history search failed"))?
        .map_err(|e| error(StatusCode::SERVICE_UNAVAILABLE, &format!("the history cannot be read: {e}")))?;
    Ok((rows, limit, access.timezone))
}

pub(super) async fn json(
    _: CanRead,
    State(state): State<ApiState>,
    filter: Result<Query<Filter>, axum::extract::rejection::QueryRejection>,
) -> Response {
    match search(&state, filter).await {
        Ok((rows, limit, _)) => {
            // The next page: `before` = the last id, while a page comes back full.
            let next = (rows.len() == limit).then(|| rows.last().map(|e| e.id)).flatten();
            Json(serde_json::json!({ "events": rows, "next_before": next })).into_response()
        }
        Err(r) => r,
    }
}

/// `GET /api/history/pictures/{day}/{file}`: a picture a row names, as the
/// camera sent it. Only names the history makes are served.
pub(super) async fn picture(
    _: CanRead,
    State(state): State<ApiState>,
    axum::extract::Path((day, file)): axum::extract::Path<(String, String)>,
) -> Response {
    let Some(access) = state.history.clone() else {
        return error(StatusCode::NOT_FOUND, "no history is kept: add a [history] section to the rules file");
    };
    let Some(path) = crate::history::picture::file(&access.dir, &format!("{day}/{file}")) else {
        return error(StatusCode::NOT_FOUND, "no such picture");
    };
    match tokio::fs::read(&path).await {
        Ok(jpeg) => (
            [
                (header::CONTENT_TYPE, "image/jpeg"),
                // A picture never changes once written; it may only be forgotten.
                (header::CACHE_CONTROL, "private, max-age=86400, immutable"),
            ],
            jpeg,
        )
            .into_response(),
        Err(_) => error(StatusCode::NOT_FOUND, "no such picture (forgotten, or never kept)"),
    }
}

pub(super) async fn csv(
    _: CanRead,
    State(state): State<ApiState>,
    filter: Result<Query<Filter>, axum::extract::rejection::QueryRejection>,
) -> Response {
    match search(&state, filter).await {
        Ok((rows, _, tz)) => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (header::CONTENT_DISPOSITION, "attachment; filename=\"camrelay-history.csv\""),
            ],
            crate::history::csv(&rows, tz),
        )
            .into_response(),
        Err(r) => r,
    }
}
