//! UI groups and UI items: how a project's tags are laid out in a client's listen and speak
//! screens, and the `uiconfig` document clients build those screens from.

use rusqlite::{Connection, OptionalExtension, Row, Transaction};
use serde::Serialize;

use super::loc::{self, LocString, Owner};
use super::sql::{Assignments, check_ref, creates_cycle};
use super::tags::Localize;
use super::{
    Editable, Filter, Filtered, Given, Kind, Param, Queried, StoreError, StoreResult, Table, Test,
};

/// UI modes of a group.
pub(crate) const UI_MODES: &[&str] = &["listen", "speak", "browse"];
/// Selection methods of a group.
pub(crate) const SELECT_METHODS: &[&str] = &["single", "multi", "min_one"];

/// A UI item: one tag shown in a group.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct UiItem {
    /// Row id.
    pub id: i64,
    /// Position within the group.
    pub index: i64,
    /// Selected by default.
    pub default: bool,
    /// Shown to clients.
    pub active: bool,
    /// The group.
    pub ui_group_id: i64,
    /// The tag.
    pub tag_id: i64,
    /// Parent item (hierarchical tag choices).
    pub parent_id: Option<i64>,
}

/// A UI group as api/2 shows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct UiGroup {
    /// Row id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// One of [`UI_MODES`].
    pub ui_mode: String,
    /// One of [`SELECT_METHODS`].
    pub select: String,
    /// Shown to clients.
    pub active: bool,
    /// Position among the project's groups.
    pub index: i64,
    /// Header text, resolved.
    pub header_text_loc: Option<String>,
    /// The tag category the group shows.
    pub tag_category_id: i64,
    /// Project.
    pub project_id: i64,
    /// Free filter name (React admin), default `none`.
    pub uiitem_filter: String,
    /// Every item of the group, active or not, by index.
    pub ui_items: Vec<UiItem>,
    /// Every header string (only with `admin`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub header_text_loc_admin: Option<Vec<LocString>>,
}

/// Read plainly, a group answers in English without the admin lists (what a create or
/// PATCH answers); [`get`] and [`list`] localize.
impl Table for UiGroup {
    const WHAT: &'static str = "ui group";
    const TABLE: &'static str = "ui_groups";
    const SELECT: &'static str = "SELECT id, name, ui_mode, select_mode, active, idx, \
         tag_category_id, project_id, uiitem_filter FROM ui_groups";
    const ORDER_BY: &'static str = "idx, id";

    fn from_row(r: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: r.get(0)?,
            name: r.get(1)?,
            ui_mode: r.get(2)?,
            select: r.get(3)?,
            active: r.get(4)?,
            index: r.get(5)?,
            header_text_loc: None,
            tag_category_id: r.get(6)?,
            project_id: r.get(7)?,
            uiitem_filter: r.get(8)?,
            ui_items: Vec::new(),
            header_text_loc_admin: None,
        })
    }

    fn complete(self, conn: &Connection) -> StoreResult<Self> {
        complete(conn, self, Localize::english(conn)?)
    }
}

impl Table for UiItem {
    const WHAT: &'static str = "ui item";
    const TABLE: &'static str = "ui_items";
    const SELECT: &'static str =
        "SELECT id, idx, is_default, active, ui_group_id, tag_id, parent_id FROM ui_items";
    const ORDER_BY: &'static str = "idx, id";

    fn from_row(r: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: r.get(0)?,
            index: r.get(1)?,
            default: r.get(2)?,
            active: r.get(3)?,
            ui_group_id: r.get(4)?,
            tag_id: r.get(5)?,
            parent_id: r.get(6)?,
        })
    }
}

fn complete(conn: &Connection, mut g: UiGroup, how: Localize) -> StoreResult<UiGroup> {
    g.header_text_loc = loc::resolve(conn, Owner::UiGroup, g.id, "header_text", how.language_id)?;
    g.ui_items = UiItem::list(conn, &Given::default().with("ui_group_id", g.id))?;
    if how.admin {
        g.header_text_loc_admin = Some(loc::strings(conn, Owner::UiGroup, g.id, "header_text")?);
    }
    Ok(g)
}

/// One UI group, localized as `how` says.
///
/// # Errors
/// [`StoreError::NotFound`] if there is none.
pub(crate) fn get(conn: &Connection, id: i64, how: Localize) -> StoreResult<UiGroup> {
    complete(conn, UiGroup::row(conn, id)?, how)
}

/// `GET uigroups/` (and the project sub-routes): the name begins with (case-sensitive), the
/// rest exactly.
impl Queried for UiGroup {
    const PARAMS: &'static [Param] = &[
        Param::new(&["name"], "name", Test::Prefix, Kind::Text),
        Param::eq(&["ui_mode"], Kind::Choice(UI_MODES)),
        Param::eq(&["tag_category_id"], Kind::Int),
        Param::new(
            &["select"],
            "select_mode",
            Test::Eq,
            Kind::Choice(SELECT_METHODS),
        ),
        Param::eq(&["active"], Kind::Bool),
        Param::new(&["index"], "idx", Test::Eq, Kind::Int),
        Param::eq(&["project_id"], Kind::Int),
    ];
}

/// UI groups matching a filter, by index.
///
/// # Errors
/// Only SQLite failures.
pub(crate) fn list(
    conn: &Connection,
    f: &Given<UiGroup>,
    how: Localize,
) -> StoreResult<Vec<UiGroup>> {
    UiGroup::rows(conn, &f.where_clause(), None)?
        .into_iter()
        .map(|g| complete(conn, g, how))
        .collect()
}

fn require_project(conn: &Connection, project_id: i64) -> StoreResult<()> {
    if super::sql::exists(conn, "projects", project_id)? {
        Ok(())
    } else {
        Err(StoreError::not_found("project", project_id))
    }
}

/// A project's UI groups (`projects/:id/uigroups/`): the filter with the project forced,
/// localized for `session_id` (English without one).
///
/// # Errors
/// [`StoreError::NotFound`] for an unknown project, then for an unknown session.
pub(crate) fn for_project(
    conn: &Connection,
    project_id: i64,
    f: &Given<UiGroup>,
    session_id: Option<i64>,
    admin: bool,
) -> StoreResult<Vec<UiGroup>> {
    require_project(conn, project_id)?;
    let how = Localize::for_session(conn, session_id, admin)?;
    list(conn, &f.clone().with("project_id", project_id), how)
}

/// Fields of a UI group create or PATCH.
#[derive(Debug, Default, Clone)]
pub(crate) struct GroupInput {
    /// Name (required on create).
    pub name: Option<String>,
    /// One of [`UI_MODES`] (default `listen`).
    pub ui_mode: Option<String>,
    /// One of [`SELECT_METHODS`] (default `single`).
    pub select: Option<String>,
    /// Default true.
    pub active: Option<bool>,
    /// Position (required on create).
    pub index: Option<i64>,
    /// Tag category (required on create).
    pub tag_category_id: Option<i64>,
    /// Project (required on create).
    pub project_id: Option<i64>,
    /// Default `none`.
    pub uiitem_filter: Option<String>,
    /// Header strings.
    pub header_text_loc_ids: Option<Vec<i64>>,
}

fn check_group_refs(tx: &Transaction<'_>, g: &GroupInput) -> StoreResult<()> {
    check_ref(tx, "tag_categories", "tag_category_id", g.tag_category_id)?;
    check_ref(tx, "projects", "project_id", g.project_id)
}

fn set_group_locs(tx: &Transaction<'_>, id: i64, g: &GroupInput) -> StoreResult<()> {
    if let Some(ids) = &g.header_text_loc_ids {
        loc::set(
            tx,
            Owner::UiGroup,
            id,
            "header_text",
            "header_text_loc_ids",
            ids,
        )?;
    }
    Ok(())
}

impl Editable for UiGroup {
    type Input = GroupInput;

    fn create(tx: &Transaction<'_>, g: &GroupInput) -> StoreResult<Self> {
        check_group_refs(tx, g)?;
        tx.execute(
            "INSERT INTO ui_groups (name, ui_mode, tag_category_id, select_mode, active, idx, project_id, uiitem_filter)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            rusqlite::params![
                g.name.as_deref().unwrap_or(""),
                g.ui_mode.as_deref().unwrap_or("listen"),
                g.tag_category_id.unwrap_or_default(),
                g.select.as_deref().unwrap_or("single"),
                g.active.unwrap_or(true),
                g.index.unwrap_or_default(),
                g.project_id.unwrap_or_default(),
                g.uiitem_filter.as_deref().unwrap_or("none"),
            ],
        )?;
        let id = tx.last_insert_rowid();
        set_group_locs(tx, id, g)?;
        Self::get(tx, id)
    }

    fn patch(tx: &Transaction<'_>, id: i64, g: &GroupInput) -> StoreResult<Self> {
        if !super::sql::exists(tx, "ui_groups", id)? {
            return Err(StoreError::not_found("ui group", id));
        }
        check_group_refs(tx, g)?;
        let mut a = Assignments::default();
        a.set("name", g.name.clone())
            .set("ui_mode", g.ui_mode.clone())
            .set("select_mode", g.select.clone())
            .set("active", g.active)
            .set("idx", g.index)
            .set("tag_category_id", g.tag_category_id)
            .set("project_id", g.project_id)
            .set("uiitem_filter", g.uiitem_filter.clone());
        a.apply(tx, "ui_groups", id)?;
        set_group_locs(tx, id, g)?;
        Self::get(tx, id)
    }
}

// ---------------------------------------------------------------------------------------
// UI items

/// `GET uiitems/`: group, index, tag, default, active, parent and the group's project exactly.
impl Queried for UiItem {
    const PARAMS: &'static [Param] = &[
        Param::eq(&["ui_group_id"], Kind::Int),
        Param::new(&["index"], "idx", Test::Eq, Kind::Int),
        Param::eq(&["tag_id"], Kind::Int),
        Param::new(&["default"], "is_default", Test::Eq, Kind::Bool),
        Param::eq(&["active"], Kind::Bool),
        Param::eq(&["parent_id"], Kind::Int),
        Param::new(
            &["project_id"],
            "project_id",
            Test::Clause("ui_group_id IN (SELECT id FROM ui_groups WHERE project_id = ?)"),
            Kind::Int,
        ),
    ];
}

impl Filtered for UiItem {
    type Filter = Given<Self>;
}

/// Fields of a UI item create or PATCH.
#[derive(Debug, Default, Clone)]
pub(crate) struct ItemInput {
    /// Group (required on create).
    pub ui_group_id: Option<i64>,
    /// Tag (required on create).
    pub tag_id: Option<i64>,
    /// Parent item; `Some(None)` clears it.
    pub parent_id: Option<Option<i64>>,
    /// Position (required on create).
    pub index: Option<i64>,
    /// Default false.
    pub default: Option<bool>,
    /// Default false.
    pub active: Option<bool>,
}

fn check_item_refs(tx: &Transaction<'_>, i: &ItemInput) -> StoreResult<()> {
    check_ref(tx, "ui_groups", "ui_group_id", i.ui_group_id)?;
    check_ref(tx, "tags", "tag_id", i.tag_id)?;
    check_ref(tx, "ui_items", "parent_id", i.parent_id.flatten())
}

impl Editable for UiItem {
    type Input = ItemInput;

    /// Creates a UI item.
    ///
    /// # Errors
    /// Field conflicts for unknown ids.
    fn create(tx: &Transaction<'_>, i: &ItemInput) -> StoreResult<Self> {
        check_item_refs(tx, i)?;
        tx.execute(
            "INSERT INTO ui_items (ui_group_id, idx, tag_id, is_default, active, parent_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            rusqlite::params![
                i.ui_group_id.unwrap_or_default(),
                i.index.unwrap_or_default(),
                i.tag_id.unwrap_or_default(),
                i.default.unwrap_or(false),
                i.active.unwrap_or(false),
                i.parent_id.flatten(),
            ],
        )?;
        UiItem::get(tx, tx.last_insert_rowid())
    }

    /// Applies a PATCH to a UI item; an item cannot become its own ancestor.
    ///
    /// # Errors
    /// Not found; field conflicts for unknown ids or a cycle.
    fn patch(tx: &Transaction<'_>, id: i64, i: &ItemInput) -> StoreResult<Self> {
        UiItem::get(tx, id)?;
        check_item_refs(tx, i)?;
        if let Some(Some(parent)) = i.parent_id
            && creates_cycle(tx, "ui_items", id, parent)?
        {
            return Err(StoreError::conflict(
                "parent_id",
                "An item cannot be its own ancestor.",
            ));
        }
        let mut a = Assignments::default();
        a.set("ui_group_id", i.ui_group_id)
            .set("tag_id", i.tag_id)
            .set("parent_id", i.parent_id)
            .set("idx", i.index)
            .set("is_default", i.default)
            .set("active", i.active);
        a.apply(tx, "ui_items", id)?;
        UiItem::get(tx, id)
    }
}

// ---------------------------------------------------------------------------------------
// uiconfig

/// One tag choice in the `uiconfig` document.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct DisplayItem {
    /// UI item id.
    pub id: i64,
    /// Tag id.
    pub tag_id: i64,
    /// Parent item (always null in `listen`).
    pub parent_id: Option<i64>,
    /// Selected by default.
    pub default_state: bool,
    /// The tag's display text: its localized `msg`, resolved, else the tag's `value`
    /// (decisions.md; the reference gave null); null only when the tag row is gone.
    pub tag_display_text: Option<String>,
}

/// One group in the `uiconfig` document.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct ConfigGroup {
    /// Selection method.
    pub select: String,
    /// Header text, resolved.
    pub header_display_text: Option<String>,
    /// The tag category's name, title-cased.
    pub group_short_name: String,
    /// The group's active items, by index.
    pub display_items: Vec<DisplayItem>,
}

/// `projects/:id/uiconfig/`: the active listen and speak groups of a project.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct UiConfig {
    /// Listen groups: one item per tag, parents flattened to null.
    pub listen: Vec<ConfigGroup>,
    /// Speak groups: every active item with its parent.
    pub speak: Vec<ConfigGroup>,
}

/// Title-cases like Python's `str.title()`: a letter is upper-cased after a non-letter and
/// lower-cased after a letter.
pub(crate) fn title_case(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut after_cased = false;
    for c in s.chars() {
        let cased = c.is_lowercase() || c.is_uppercase();
        if cased {
            if after_cased {
                out.extend(c.to_lowercase());
            } else {
                out.extend(c.to_uppercase());
            }
        } else {
            out.push(c);
        }
        after_cased = cased;
    }
    out
}

/// A UI item's label: the tag's `msg` in `language_id` (with [`loc::resolve`]'s fallbacks),
/// else the tag's `value`, so that an item is never blank.
fn tag_display_text(
    conn: &Connection,
    tag_id: i64,
    language_id: i64,
) -> StoreResult<Option<String>> {
    if let Some(text) = loc::resolve(conn, Owner::Tag, tag_id, "msg", language_id)? {
        return Ok(Some(text));
    }
    Ok(conn
        .prepare_cached("SELECT value FROM tags WHERE id = ?1")?
        .query_row([tag_id], |r| r.get(0))
        .optional()?)
}

fn config_groups(
    conn: &Connection,
    project_id: i64,
    mode: &str,
    f: &Given<UiGroup>,
    language_id: i64,
) -> StoreResult<Vec<ConfigGroup>> {
    let filter = f
        .clone()
        .with("project_id", project_id)
        .with("ui_mode", mode.to_string())
        .with("active", true);
    let listen = mode == "listen";
    let mut groups = Vec::new();
    for g in UiGroup::rows(conn, &filter.where_clause(), None)? {
        let category: String = conn
            .prepare_cached("SELECT name FROM tag_categories WHERE id = ?1")?
            .query_row([g.tag_category_id], |r| r.get(0))
            .optional()?
            .unwrap_or_default();
        let items = UiItem::list(
            conn,
            &Given::default()
                .with("ui_group_id", g.id)
                .with("active", true),
        )?;
        let mut seen = std::collections::HashSet::new();
        let mut display_items = Vec::new();
        for item in items {
            if listen && !seen.insert(item.tag_id) {
                continue;
            }
            display_items.push(DisplayItem {
                id: item.id,
                tag_id: item.tag_id,
                parent_id: if listen { None } else { item.parent_id },
                default_state: item.default,
                tag_display_text: tag_display_text(conn, item.tag_id, language_id)?,
            });
        }
        groups.push(ConfigGroup {
            select: g.select,
            header_display_text: loc::resolve(
                conn,
                Owner::UiGroup,
                g.id,
                "header_text",
                language_id,
            )?,
            group_short_name: title_case(&category),
            display_items,
        });
    }
    Ok(groups)
}

/// The `uiconfig` document of a project, localized for `session_id` (English without one);
/// `f` narrows the groups further (its project, mode and active fields are overridden).
///
/// # Errors
/// [`StoreError::NotFound`] for an unknown project, then for an unknown session.
pub(crate) fn uiconfig(
    conn: &Connection,
    project_id: i64,
    f: &Given<UiGroup>,
    session_id: Option<i64>,
) -> StoreResult<UiConfig> {
    require_project(conn, project_id)?;
    let language_id = loc::language_for(conn, session_id)?;
    Ok(UiConfig {
        listen: config_groups(conn, project_id, "listen", f, language_id)?,
        speak: config_groups(conn, project_id, "speak", f, language_id)?,
    })
}

#[cfg(test)]
mod tests {
    use super::title_case;

    #[test]
    fn category_names_are_title_cased_like_python() {
        assert_eq!(title_case("gender"), "Gender");
        assert_eq!(title_case("AGE group"), "Age Group");
        assert_eq!(title_case("hair-color"), "Hair-Color");
        assert_eq!(title_case("3d view"), "3D View");
        assert_eq!(title_case("émotion"), "Émotion");
        assert_eq!(title_case(""), "");
    }
}
