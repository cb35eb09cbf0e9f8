//! What every list endpoint shares: query parameters, keyset page tokens and `meta` links.

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use serde::Serialize;

use orgiam_domain::keyset::{BySid, CursorKey};
use orgiam_domain::page::{self, Binding, Cursor, Direction, PageTokenCodec};
use orgiam_domain::rendered::RenderedRows;
use orgiam_domain::{Error, Result};

use crate::error::json_bytes;

/// A request's query parameters, decoded; never rejected as a whole. Unknown names are ignored.
pub struct Params(Vec<(String, String)>);

impl Params {
    pub fn parse(raw: Option<&str>) -> Self {
        Self(
            url::form_urlencoded::parse(raw.unwrap_or("").as_bytes())
                .into_owned()
                .collect(),
        )
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of `name`, trimmed; blank counts as absent.
    pub fn non_blank(&self, name: &str) -> Option<&str> {
        self.get(name).map(str::trim).filter(|v| !v.is_empty())
    }

    /// A `true`/`false` parameter (any case); absent is `false`.
    pub fn flag(&self, name: &str) -> Result<bool> {
        match self.get(name).map(str::trim) {
            None => Ok(false),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
            Some(_) => Err(Error::bad_request(format!("{name} must be true or false"))),
        }
    }
}

/// The page a request asks for.
pub struct PageRequest {
    pub size: u32,
    pub page: u32,
    pub cursor: Option<Cursor>,
    token: Option<String>,
}

impl PageRequest {
    pub fn parse(
        params: &Params,
        default: u32,
        max: u32,
        codec: &PageTokenCodec,
        binding: &Binding<'_>,
    ) -> Result<Self> {
        let size = page::page_size(params.get("PageSize"), default, max)?;
        let page = page::page_index(params.get("Page"))?;
        let token = params.get("PageToken").filter(|t| !t.is_empty());
        let cursor = token.map(|t| codec.decode(binding, t)).transpose()?;
        Ok(Self {
            size,
            page,
            cursor,
            token: token.map(str::to_owned),
        })
    }

    /// How many rows to fetch: one more than the page, to learn whether more lie beyond.
    pub fn fetch_limit(&self) -> u32 {
        self.size + 1
    }
}

/// The absolute base (`scheme://host`) of links: the configured public URL, else the Host the
/// client used.
pub fn base_url(public_url: Option<&str>, headers: &HeaderMap, fallback_host: &str) -> String {
    if let Some(u) = public_url {
        return u.trim_end_matches('/').to_owned();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.bytes().all(|b| {
                    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']')
                })
        })
        .unwrap_or(fallback_host);
    format!("http://{host}")
}

/// The absolute base of a request's links (see [`base_url`]), read from the request's `Host`
/// header by reference: extracting the whole `HeaderMap` would copy every header.
pub struct LinkBase(pub String);

impl axum::extract::FromRequestParts<crate::state::AppState> for LinkBase {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &crate::state::AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self(base_url(
            state.config.public_url.as_deref(),
            &parts.headers,
            &state.listen_host,
        )))
    }
}

/// Builds the `meta` links of one list endpoint.
pub struct Links<'a> {
    pub base: &'a str,
    pub path: &'a str,
    /// The request's filters, as it sent them, in the endpoint's order.
    pub filters: Vec<(&'static str, &'a str)>,
}

impl<'a> Links<'a> {
    /// Links that echo the request's parameters named in `names` (those it sent, as sent).
    pub fn echoing(
        base: &'a str,
        path: &'a str,
        params: &'a Params,
        names: &[&'static str],
    ) -> Self {
        let filters = names
            .iter()
            .filter_map(|k| params.get(k).map(|v| (*k, v)))
            .collect();
        Self {
            base,
            path,
            filters,
        }
    }

    fn url(&self, size: u32, page: u32, token: Option<&str>) -> String {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in &self.filters {
            q.append_pair(k, v);
        }
        q.append_pair("PageSize", &size.to_string());
        q.append_pair("Page", &page.to_string());
        if let Some(t) = token {
            q.append_pair("PageToken", t);
        }
        format!("{}{}?{}", self.base, self.path, q.finish())
    }
}

#[derive(Serialize)]
struct Meta<'a> {
    page_size: u32,
    page: u32,
    key: &'a str,
    first_page_url: String,
    previous_page_url: Option<String>,
    next_page_url: Option<String>,
    url: String,
}

/// A finished page: rows, and the links around them.
pub struct Page<T> {
    pub rows: Vec<T>,
    meta_json: Vec<u8>,
}

impl<T> Page<T> {
    /// Trims the `fetch_limit()` rows fetched for `req` to the page and builds `meta`.
    pub fn build(
        req: &PageRequest,
        mut rows: Vec<T>,
        key_of: impl Fn(&T) -> Vec<String>,
        key: &str,
        links: &Links<'_>,
        codec: &PageTokenCodec,
        binding: &Binding<'_>,
    ) -> Result<Self> {
        let size = req.size as usize;
        let backward = req
            .cursor
            .as_ref()
            .is_some_and(|c| c.direction == Direction::Previous);
        let (has_before, has_after) = if backward {
            let more = rows.len() > size;
            if more {
                rows.drain(..rows.len() - size);
            }
            (more, true)
        } else {
            let more = rows.len() > size;
            rows.truncate(size);
            (req.cursor.is_some(), more)
        };
        let token =
            |direction, k: Vec<String>| codec.encode(binding, &Cursor { direction, key: k });
        let anchor = req.cursor.as_ref().map(|c| c.key.clone());
        let next = has_after
            .then(|| rows.last().map(&key_of).or_else(|| anchor.clone()))
            .flatten()
            .map(|k| {
                links.url(
                    req.size,
                    req.page.saturating_add(1),
                    Some(&token(Direction::Next, k)),
                )
            });
        let previous = (has_before && req.page > 0)
            .then(|| rows.first().map(&key_of).or(anchor))
            .flatten()
            .map(|k| links.url(req.size, req.page - 1, Some(&token(Direction::Previous, k))));
        let meta = Meta {
            page_size: req.size,
            page: req.page,
            key,
            first_page_url: links.url(req.size, 0, None),
            previous_page_url: previous,
            next_page_url: next,
            url: links.url(req.size, req.page, req.token.as_deref()),
        };
        Ok(Self {
            rows,
            meta_json: serde_json::to_vec(&meta).map_err(Error::internal)?,
        })
    }

    /// `{"<key>": [...], "meta": {...}}` from the serialized rows.
    pub fn respond<V: Serialize>(&self, key: &str, items: &[V]) -> Result<Response> {
        Ok(json_bytes(StatusCode::OK, self.body(key, items)?))
    }

    /// The body of [`Page::respond`].
    pub fn body<V: Serialize>(&self, key: &str, items: &[V]) -> Result<Vec<u8>> {
        let items = serde_json::to_vec(items).map_err(Error::internal)?;
        Ok(self.wrap(key, &items))
    }

    /// The body of a page whose rows are JSON already (each one value, written as the pieces
    /// of `items` one after another).
    pub fn body_raw<'j, P: AsRef<[&'j [u8]]>>(
        &self,
        key: &str,
        items: impl Iterator<Item = P> + Clone,
    ) -> Vec<u8> {
        // Written once, into a body of the right size (a page of 1,000 expanded roles is
        // megabytes: no intermediate array).
        let len = items
            .clone()
            .map(|i| i.as_ref().iter().map(|p| p.len()).sum::<usize>() + 1)
            .sum::<usize>()
            + 2;
        let mut body = self.open_body(key, len);
        body.push(b'[');
        for (i, item) in items.enumerate() {
            if i > 0 {
                body.push(b',');
            }
            for piece in item.as_ref() {
                body.extend_from_slice(piece);
            }
        }
        body.push(b']');
        self.close_body(body)
    }

    /// `{"<key>": <items>, "meta": {...}}`.
    fn wrap(&self, key: &str, items: &[u8]) -> Vec<u8> {
        let mut body = self.open_body(key, items.len());
        body.extend_from_slice(items);
        self.close_body(body)
    }

    /// `{"<key>":`, in a buffer with room for `items` bytes of rows and the rest.
    fn open_body(&self, key: &str, items: usize) -> Vec<u8> {
        let mut body = Vec::with_capacity(items + self.meta_json.len() + key.len() + 16);
        body.extend_from_slice(b"{\"");
        body.extend_from_slice(key.as_bytes());
        body.extend_from_slice(b"\":");
        body
    }

    /// `,"meta": {...}}` after the rows.
    fn close_body(&self, mut body: Vec<u8>) -> Vec<u8> {
        body.extend_from_slice(b",\"meta\":");
        body.extend_from_slice(&self.meta_json);
        body.push(b'}');
        body
    }
}

/// The rows of a page of `all` (sorted by `key`, unique keys) after or before the cursor.
pub fn keyset<T: Clone>(
    all: &[T],
    key: impl Fn(&T) -> &str,
    cursor: Option<&Cursor>,
    limit: usize,
) -> Vec<T> {
    match cursor {
        None => all.iter().take(limit).cloned().collect(),
        Some(c) => {
            let at = c.key.first().map(String::as_str).unwrap_or("");
            match c.direction {
                Direction::Next => {
                    let start = all.partition_point(|x| key(x) <= at);
                    all[start..].iter().take(limit).cloned().collect()
                }
                Direction::Previous => {
                    let end = all.partition_point(|x| key(x) < at);
                    all[end.saturating_sub(limit)..end].to_vec()
                }
            }
        }
    }
}

/// One list endpoint, the skeleton every list handler shares: what its page tokens are bound
/// to, the key of its rows in the body, its page sizes and the filters its links echo. A
/// handler parses its filters (and their canonical form), [`Listing::bind`]s the request,
/// fetches `fetch_limit()` rows from the cursor, and answers with [`Bound::respond`].
pub struct Listing {
    /// The endpoint's name in its page tokens (a token of one endpoint is refused by another).
    pub endpoint: &'static str,
    /// The key of the rows in the body (`roles`, `content`, …).
    pub key: &'static str,
    pub default_size: u32,
    pub max_size: u32,
    /// The filter parameters the `meta` links echo, in order.
    pub echo: &'static [&'static str],
}

impl Listing {
    /// The page a request asks for, its token bound to this endpoint, `org` and `filters`
    /// (the canonical filter set).
    pub fn bind<'a>(
        &'a self,
        codec: &'a PageTokenCodec,
        org: &'a str,
        params: &'a Params,
        filters: &'a str,
    ) -> Result<Bound<'a>> {
        let binding = Binding {
            endpoint: self.endpoint,
            org,
            filters,
        };
        let req = PageRequest::parse(params, self.default_size, self.max_size, codec, &binding)?;
        Ok(Bound {
            listing: self,
            codec,
            params,
            binding,
            req,
        })
    }
}

/// A request to one [`Listing`], bound and parsed.
pub struct Bound<'a> {
    listing: &'a Listing,
    codec: &'a PageTokenCodec,
    params: &'a Params,
    binding: Binding<'a>,
    pub req: PageRequest,
}

impl Bound<'_> {
    /// Where the page starts (`None`: the first page).
    pub fn cursor(&self) -> Option<&Cursor> {
        self.req.cursor.as_ref()
    }

    /// How many rows to fetch (one more than the page).
    pub fn fetch_limit(&self) -> u32 {
        self.req.fetch_limit()
    }

    /// The page of the fetched `rows`, with links to `path` under `base`; `key_of` places a
    /// row in the listing's order.
    pub fn page<T, K: CursorKey>(
        &self,
        rows: Vec<T>,
        base: &str,
        path: &str,
        key_of: impl Fn(&T) -> K,
    ) -> Result<Page<T>> {
        let links = Links::echoing(base, path, self.params, self.listing.echo);
        Page::build(
            &self.req,
            rows,
            |row| key_of(row).to_parts(),
            self.listing.key,
            &links,
            self.codec,
            &self.binding,
        )
    }

    /// The response for a page of rows the store rendered as it read them (ordered by SID),
    /// with links to `path` under `base`.
    pub fn respond_rendered(
        &self,
        rendered: RenderedRows,
        base: &str,
        path: &str,
    ) -> Result<Response> {
        let RenderedRows { json, rows } = rendered;
        let page = self.page(rows, base, path, |r| BySid(r.key.clone()))?;
        let items = page.rows.iter().map(|r| [&json[r.at.clone()]]);
        Ok(json_bytes(
            StatusCode::OK,
            page.body_raw(self.listing.key, items),
        ))
    }

    /// The response for a page: `views` (its rows as the API shows them) under the listing's
    /// key, and `meta`.
    pub fn respond<T, V: Serialize>(&self, page: &Page<T>, views: &[V]) -> Result<Response> {
        page.respond(self.listing.key, views)
    }
}
