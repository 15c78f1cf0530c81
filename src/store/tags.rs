//! Tags (the labels assets carry and listeners filter by), their categories, and the
//! relationships that tier them.

use rusqlite::{Connection, Row, Transaction};
use serde::Serialize;

use super::loc::{self, LocString, Owner};
use super::sql::{Assignments, Where, check_ref, creates_cycle};
use super::{
    Editable, Filtered, Given, Kind, Param, Queried, StoreError, StoreResult, Table, Test,
};
use crate::geometry;

/// The `filter` values a tag may carry (inert on the server; clients read them).
pub(crate) const FILTERS: &[&str] = &["", "_within_10km", "_ten_most_recent_days"];

/// A tag relationship (`tagrelationships/` and a tag's `relationships`).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct Relationship {
    /// Row id.
    pub id: i64,
    /// The tag this relationship belongs to.
    pub tag_id: i64,
    /// The parent relationship, if any.
    pub parent_id: Option<i64>,
}

/// A tag as api/2 shows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct Tag {
    /// Row id.
    pub id: i64,
    /// Short code.
    pub value: String,
    /// Free description.
    pub description: Option<String>,
    /// Free data.
    pub data: Option<String>,
    /// One of [`FILTERS`]; never null (iOS decodes it as a string).
    pub filter: String,
    /// GeoJSON MultiPolygon or null.
    pub location: serde_json::Value,
    /// Project (null for tags shared across projects).
    pub project_id: Option<i64>,
    /// Category.
    pub tag_category_id: Option<i64>,
    /// The localized description, resolved to text.
    pub description_loc: Option<String>,
    /// The localized display text, resolved to text.
    pub msg_loc: Option<String>,
    /// Relationships whose tag is this one.
    pub relationships: Vec<Relationship>,
    /// Every display string (only with `admin`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loc_msg_admin: Option<Vec<LocString>>,
    /// Every description string (only with `admin`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loc_description_admin: Option<Vec<LocString>>,
}

/// How localized fields are shown: in which language, and whether the `_admin` lists are
/// added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Localize {
    /// Language row id to resolve to (falls back to English, then any).
    pub language_id: i64,
    /// Emit the `<field>_admin` lists too.
    pub admin: bool,
}

impl Localize {
    /// English, without admin lists (the shape of create and patch answers).
    ///
    /// # Errors
    /// Only SQLite failures.
    pub(crate) fn english(conn: &Connection) -> StoreResult<Self> {
        Ok(Self {
            language_id: loc::english_id(conn)?,
            admin: false,
        })
    }

    /// The language of `session_id` (English without one); unknown sessions are
    /// [`StoreError::NotFound`] with `what == "session"`.
    ///
    /// # Errors
    /// Unknown session, SQLite failures.
    pub(crate) fn for_session(
        conn: &Connection,
        session_id: Option<i64>,
        admin: bool,
    ) -> StoreResult<Self> {
        Ok(Self {
            language_id: loc::language_for(conn, session_id)?,
            admin,
        })
    }
}

/// Read plainly, a tag answers in English without the admin lists (what a create or PATCH
/// answers); [`get`] and [`list`] localize.
impl Table for Tag {
    const WHAT: &'static str = "tag";
    const TABLE: &'static str = "tags";
    const SELECT: &'static str = "SELECT id, value, description, data, filter, location, \
         project_id, tag_category_id FROM tags";

    fn from_row(r: &Row<'_>) -> rusqlite::Result<Self> {
        let location: Option<String> = r.get(5)?;
        Ok(Self {
            id: r.get(0)?,
            value: r.get(1)?,
            description: r.get(2)?,
            data: r.get(3)?,
            filter: r.get(4)?,
            location: geometry::stored_json(location.as_deref()),
            project_id: r.get(6)?,
            tag_category_id: r.get(7)?,
            description_loc: None,
            msg_loc: None,
            relationships: Vec::new(),
            loc_msg_admin: None,
            loc_description_admin: None,
        })
    }

    fn complete(self, conn: &Connection) -> StoreResult<Self> {
        complete(conn, self, Localize::english(conn)?)
    }
}

/// Fills the localized fields and relationships of a tag read by [`Table::from_row`].
fn complete(conn: &Connection, mut t: Tag, how: Localize) -> StoreResult<Tag> {
    t.description_loc = loc::resolve(conn, Owner::Tag, t.id, "description", how.language_id)?;
    t.msg_loc = loc::resolve(conn, Owner::Tag, t.id, "msg", how.language_id)?;
    t.relationships = Relationship::list(conn, &Given::default().with("tag_id", t.id))?;
    if how.admin {
        t.loc_msg_admin = Some(loc::strings(conn, Owner::Tag, t.id, "msg")?);
        t.loc_description_admin = Some(loc::strings(conn, Owner::Tag, t.id, "description")?);
    }
    Ok(t)
}

/// One tag.
///
/// # Errors
/// [`StoreError::NotFound`] if there is no such tag.
pub(crate) fn get(conn: &Connection, id: i64, how: Localize) -> StoreResult<Tag> {
    complete(conn, Tag::row(conn, id)?, how)
}

/// Filters of `GET tags/`.
#[derive(Debug, Default, Clone)]
pub(crate) struct TagFilter {
    /// icontains
    pub description: Option<String>,
    /// icontains
    pub data: Option<String>,
    /// exact
    pub project_id: Option<i64>,
}

/// Tags matching a filter, by id.
///
/// # Errors
/// Only SQLite failures.
pub(crate) fn list(conn: &Connection, f: &TagFilter, how: Localize) -> StoreResult<Vec<Tag>> {
    let mut w = Where::new();
    w.contains_opt("description", f.description.as_deref())
        .contains_opt("data", f.data.as_deref())
        .eq_opt("project_id", f.project_id);
    Tag::rows(conn, &w, None)?
        .into_iter()
        .map(|t| complete(conn, t, how))
        .collect()
}

/// Every tag of a project (`projects/:id/tags/`), localized for `session_id` (English
/// without one); tags without a project are not included.
///
/// # Errors
/// [`StoreError::NotFound`] for an unknown project, then for an unknown session.
pub(crate) fn for_project(
    conn: &Connection,
    project_id: i64,
    session_id: Option<i64>,
    admin: bool,
) -> StoreResult<Vec<Tag>> {
    if !super::sql::exists(conn, "projects", project_id)? {
        return Err(StoreError::not_found("project", project_id));
    }
    let how = Localize::for_session(conn, session_id, admin)?;
    list(
        conn,
        &TagFilter {
            project_id: Some(project_id),
            ..TagFilter::default()
        },
        how,
    )
}

/// Fields of a tag create or PATCH; `None` leaves a field as it is (create: its default).
#[derive(Debug, Default, Clone)]
pub(crate) struct TagInput {
    /// Short code (required on create).
    pub value: Option<String>,
    /// Description; `Some(None)` clears it.
    pub description: Option<Option<String>>,
    /// Data; `Some(None)` clears it.
    pub data: Option<Option<String>>,
    /// One of [`FILTERS`].
    pub filter: Option<String>,
    /// GeoJSON text; `Some(None)` clears it.
    pub location: Option<Option<String>>,
    /// Project; `Some(None)` detaches the tag.
    pub project_id: Option<Option<i64>>,
    /// Category; `Some(None)` clears it.
    pub tag_category_id: Option<Option<i64>>,
    /// Localized description strings.
    pub description_loc_ids: Option<Vec<i64>>,
    /// Localized display strings.
    pub msg_loc_ids: Option<Vec<i64>>,
}

fn check_tag_refs(tx: &Transaction<'_>, t: &TagInput) -> StoreResult<()> {
    check_ref(tx, "projects", "project_id", t.project_id.flatten())?;
    check_ref(
        tx,
        "tag_categories",
        "tag_category_id",
        t.tag_category_id.flatten(),
    )
}

fn set_tag_locs(tx: &Transaction<'_>, id: i64, t: &TagInput) -> StoreResult<()> {
    if let Some(ids) = &t.description_loc_ids {
        loc::set(
            tx,
            Owner::Tag,
            id,
            "description",
            "description_loc_ids",
            ids,
        )?;
    }
    if let Some(ids) = &t.msg_loc_ids {
        loc::set(tx, Owner::Tag, id, "msg", "msg_loc_ids", ids)?;
    }
    Ok(())
}

impl Editable for Tag {
    type Input = TagInput;

    fn create(tx: &Transaction<'_>, t: &TagInput) -> StoreResult<Self> {
        check_tag_refs(tx, t)?;
        tx.execute(
            "INSERT INTO tags (value, description, data, filter, location, project_id, tag_category_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            rusqlite::params![
                t.value.as_deref().unwrap_or(""),
                t.description.clone().flatten(),
                t.data.clone().flatten(),
                t.filter.as_deref().unwrap_or(""),
                t.location.clone().flatten(),
                t.project_id.flatten(),
                t.tag_category_id.flatten(),
            ],
        )?;
        let id = tx.last_insert_rowid();
        set_tag_locs(tx, id, t)?;
        Self::get(tx, id)
    }

    fn patch(tx: &Transaction<'_>, id: i64, t: &TagInput) -> StoreResult<Self> {
        if !super::sql::exists(tx, "tags", id)? {
            return Err(StoreError::not_found("tag", id));
        }
        check_tag_refs(tx, t)?;
        let mut a = Assignments::default();
        a.set("value", t.value.clone())
            .set("description", t.description.clone())
            .set("data", t.data.clone())
            .set("filter", t.filter.clone())
            .set("location", t.location.clone())
            .set("project_id", t.project_id)
            .set("tag_category_id", t.tag_category_id);
        a.apply(tx, "tags", id)?;
        set_tag_locs(tx, id, t)?;
        Self::get(tx, id)
    }
}

// ---------------------------------------------------------------------------------------
// Tag categories

/// A tag category.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct TagCategory {
    /// Row id.
    pub id: i64,
    /// Name (at most 50 characters).
    pub name: String,
    /// Free data.
    pub data: Option<String>,
}

impl Table for TagCategory {
    const WHAT: &'static str = "tag category";
    const TABLE: &'static str = "tag_categories";
    const SELECT: &'static str = "SELECT id, name, data FROM tag_categories";

    fn from_row(r: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: r.get(0)?,
            name: r.get(1)?,
            data: r.get(2)?,
        })
    }
}

/// `GET tagcategories/`: the name contains (any case).
impl Queried for TagCategory {
    const PARAMS: &'static [Param] = &[Param::new(&["name"], "name", Test::Contains, Kind::Text)];
}

impl Filtered for TagCategory {
    type Filter = Given<Self>;
}

/// Fields of a category create or PATCH.
#[derive(Debug, Default, Clone)]
pub(crate) struct CategoryInput {
    /// Name (required on create).
    pub name: Option<String>,
    /// Data; `Some(None)` clears it.
    pub data: Option<Option<String>>,
}

impl Editable for TagCategory {
    type Input = CategoryInput;

    /// Creates a tag category.
    ///
    /// # Errors
    /// Only SQLite failures.
    fn create(tx: &Transaction<'_>, c: &CategoryInput) -> StoreResult<Self> {
        tx.execute(
            "INSERT INTO tag_categories (name, data) VALUES (?1, ?2)",
            rusqlite::params![c.name.as_deref().unwrap_or(""), c.data.clone().flatten()],
        )?;
        TagCategory::get(tx, tx.last_insert_rowid())
    }

    /// Applies a PATCH to a tag category.
    ///
    /// # Errors
    /// Not found.
    fn patch(tx: &Transaction<'_>, id: i64, c: &CategoryInput) -> StoreResult<Self> {
        TagCategory::get(tx, id)?;
        let mut a = Assignments::default();
        a.set("name", c.name.clone()).set("data", c.data.clone());
        a.apply(tx, "tag_categories", id)?;
        TagCategory::get(tx, id)
    }
}

// ---------------------------------------------------------------------------------------
// Tag relationships

impl Table for Relationship {
    const WHAT: &'static str = "tag relationship";
    const TABLE: &'static str = "tag_relationships";
    const SELECT: &'static str = "SELECT id, tag_id, parent_id FROM tag_relationships";

    fn from_row(r: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: r.get(0)?,
            tag_id: r.get(1)?,
            parent_id: r.get(2)?,
        })
    }
}

/// `GET tagrelationships/`: tag and parent exactly.
impl Queried for Relationship {
    const PARAMS: &'static [Param] = &[
        Param::eq(&["tag_id"], Kind::Int),
        Param::eq(&["parent_id"], Kind::Int),
    ];
}

impl Filtered for Relationship {
    type Filter = Given<Self>;
}

/// Fields of a relationship create or PATCH.
#[derive(Debug, Default, Clone)]
pub(crate) struct RelationshipInput {
    /// Tag (required on create).
    pub tag_id: Option<i64>,
    /// Parent relationship; `Some(None)` clears it.
    pub parent_id: Option<Option<i64>>,
}

impl Editable for Relationship {
    type Input = RelationshipInput;

    /// Creates a tag relationship.
    ///
    /// # Errors
    /// Field conflicts for an unknown tag or parent.
    fn create(tx: &Transaction<'_>, r: &RelationshipInput) -> StoreResult<Self> {
        check_ref(tx, "tags", "tag_id", r.tag_id)?;
        check_ref(tx, "tag_relationships", "parent_id", r.parent_id.flatten())?;
        tx.execute(
            "INSERT INTO tag_relationships (tag_id, parent_id) VALUES (?1, ?2)",
            rusqlite::params![r.tag_id.unwrap_or_default(), r.parent_id.flatten()],
        )?;
        Relationship::get(tx, tx.last_insert_rowid())
    }

    /// Applies a PATCH to a tag relationship; a relationship cannot become its own ancestor.
    ///
    /// # Errors
    /// Not found; field conflicts for unknown ids or a cycle.
    fn patch(tx: &Transaction<'_>, id: i64, r: &RelationshipInput) -> StoreResult<Self> {
        Relationship::get(tx, id)?;
        check_ref(tx, "tags", "tag_id", r.tag_id)?;
        if let Some(Some(parent)) = r.parent_id {
            check_ref(tx, "tag_relationships", "parent_id", Some(parent))?;
            if creates_cycle(tx, "tag_relationships", id, parent)? {
                return Err(StoreError::conflict(
                    "parent_id",
                    "A relationship cannot be its own ancestor.",
                ));
            }
        }
        let mut a = Assignments::default();
        a.set("tag_id", r.tag_id).set("parent_id", r.parent_id);
        a.apply(tx, "tag_relationships", id)?;
        Relationship::get(tx, id)
    }
}
