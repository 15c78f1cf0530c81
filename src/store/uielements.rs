//! UI element names (the named graphic slots of a client's views) and UI elements (a
//! project's image for a slot, per screen-density variant, with its localized label), and the
//! per-project, per-variant `uielements` document.

use std::collections::BTreeMap;

use rusqlite::{Connection, Row, Transaction};
use serde::Serialize;

use super::Filter;
use super::loc::{self, Owner};
use super::sql::{Assignments, check_ref};
use super::{
    Editable, Filtered, Given, Kind, Param, Queried, StoreError, StoreResult, Table, Test,
};

/// Screen-density variants of an element image.
pub(crate) const VARIANTS: &[&str] = &[
    "@2x", "@3x", "-iPad@2x", "-iPad@3x", "-mdpi", "-hdpi", "-xhdpi", "-xxhdpi", "-xxxhdpi",
];
/// Image file extensions.
pub(crate) const FILE_EXTENSIONS: &[&str] = &["png", "jpg"];
/// Label positions (empty allowed).
pub(crate) const LABEL_POSITIONS: &[&str] = &["text_below", "text_overlay", ""];
/// The client views element names belong to.
pub(crate) const VIEWS: &[&str] = &[
    "home",
    "listen",
    "speak",
    "listentags",
    "speaktags",
    "thankyou",
];

/// A UI element.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct UiElement {
    /// Row id.
    pub id: i64,
    /// One of [`VARIANTS`].
    pub variant: String,
    /// One of [`FILE_EXTENSIONS`].
    pub file_extension: String,
    /// Hex colour of the label (may be empty).
    pub label_text_color: String,
    /// One of [`LABEL_POSITIONS`].
    pub label_position: String,
    /// Localized label strings.
    pub label_text_loc_ids: Vec<i64>,
    /// The element name (slot).
    pub uielementname_id: i64,
    /// Project.
    pub project_id: i64,
}

/// A UI element name.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct UiElementName {
    /// Row id.
    pub id: i64,
    /// Name (at most 30 characters).
    pub name: String,
    /// Free description.
    pub description: Option<String>,
    /// One of [`VIEWS`].
    pub view: String,
}

impl Table for UiElement {
    const WHAT: &'static str = "ui element";
    const TABLE: &'static str = "ui_elements";
    const SELECT: &'static str = "SELECT e.id, e.variant, e.file_extension, e.label_text_color, \
         e.label_position, e.uielementname_id, e.project_id \
         FROM ui_elements e LEFT JOIN ui_element_names n ON n.id = e.uielementname_id";
    const ID: &'static str = "e.id";

    fn from_row(r: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: r.get(0)?,
            variant: r.get(1)?,
            file_extension: r.get(2)?,
            label_text_color: r.get(3)?,
            label_position: r.get(4)?,
            label_text_loc_ids: Vec::new(),
            uielementname_id: r.get(5)?,
            project_id: r.get(6)?,
        })
    }

    fn complete(mut self, conn: &Connection) -> StoreResult<Self> {
        self.label_text_loc_ids = loc::ids(conn, Owner::UiElement, self.id, "label_text")?;
        Ok(self)
    }
}

/// `GET uielements/`: the element name contains (case-sensitive); project, variant and
/// extension exactly.
impl Queried for UiElement {
    const PARAMS: &'static [Param] = &[
        Param::new(&["uielementname"], "n.name", Test::Instr, Kind::Text),
        Param::new(&["project_id"], "e.project_id", Test::Eq, Kind::Int),
        Param::new(&["variant"], "e.variant", Test::Eq, Kind::Choice(VARIANTS)),
        Param::new(
            &["file_extension"],
            "e.file_extension",
            Test::Eq,
            Kind::Choice(FILE_EXTENSIONS),
        ),
    ];
}

impl Filtered for UiElement {
    type Filter = Given<Self>;
}

/// Fields of a UI element create or PATCH.
#[derive(Debug, Default, Clone)]
pub(crate) struct ElementInput {
    /// Element name (required on create).
    pub uielementname_id: Option<i64>,
    /// Project (required on create).
    pub project_id: Option<i64>,
    /// One of [`VARIANTS`] (required on create).
    pub variant: Option<String>,
    /// One of [`FILE_EXTENSIONS`] (required on create).
    pub file_extension: Option<String>,
    /// Label colour.
    pub label_text_color: Option<String>,
    /// One of [`LABEL_POSITIONS`].
    pub label_position: Option<String>,
    /// Label strings.
    pub label_text_loc_ids: Option<Vec<i64>>,
}

fn check_element_refs(tx: &Transaction<'_>, e: &ElementInput) -> StoreResult<()> {
    check_ref(
        tx,
        "ui_element_names",
        "uielementname_id",
        e.uielementname_id,
    )?;
    check_ref(tx, "projects", "project_id", e.project_id)
}

fn set_element_locs(tx: &Transaction<'_>, id: i64, e: &ElementInput) -> StoreResult<()> {
    if let Some(ids) = &e.label_text_loc_ids {
        loc::set(
            tx,
            Owner::UiElement,
            id,
            "label_text",
            "label_text_loc_ids",
            ids,
        )?;
    }
    Ok(())
}

impl Editable for UiElement {
    type Input = ElementInput;

    /// Creates a UI element.
    ///
    /// # Errors
    /// Field conflicts for unknown ids.
    fn create(tx: &Transaction<'_>, e: &ElementInput) -> StoreResult<Self> {
        check_element_refs(tx, e)?;
        tx.execute(
            "INSERT INTO ui_elements (uielementname_id, variant, file_extension, project_id, label_text_color, label_position)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            rusqlite::params![
                e.uielementname_id.unwrap_or_default(),
                e.variant.as_deref().unwrap_or(""),
                e.file_extension.as_deref().unwrap_or(""),
                e.project_id.unwrap_or_default(),
                e.label_text_color.as_deref().unwrap_or(""),
                e.label_position.as_deref().unwrap_or(""),
            ],
        )?;
        let id = tx.last_insert_rowid();
        set_element_locs(tx, id, e)?;
        UiElement::get(tx, id)
    }

    /// Applies a PATCH to a UI element.
    ///
    /// # Errors
    /// Not found; field conflicts for unknown ids.
    fn patch(tx: &Transaction<'_>, id: i64, e: &ElementInput) -> StoreResult<Self> {
        UiElement::get(tx, id)?;
        check_element_refs(tx, e)?;
        let mut a = Assignments::default();
        a.set("uielementname_id", e.uielementname_id)
            .set("project_id", e.project_id)
            .set("variant", e.variant.clone())
            .set("file_extension", e.file_extension.clone())
            .set("label_text_color", e.label_text_color.clone())
            .set("label_position", e.label_position.clone());
        a.apply(tx, "ui_elements", id)?;
        set_element_locs(tx, id, e)?;
        UiElement::get(tx, id)
    }
}

// ---------------------------------------------------------------------------------------
// UI element names

impl Table for UiElementName {
    const WHAT: &'static str = "ui element name";
    const TABLE: &'static str = "ui_element_names";
    const SELECT: &'static str = "SELECT id, name, description, view FROM ui_element_names";

    fn from_row(r: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: r.get(0)?,
            name: r.get(1)?,
            description: r.get(2)?,
            view: r.get(3)?,
        })
    }
}

/// `GET uielementnames/`: the name contains (case-sensitive), the view exactly.
impl Queried for UiElementName {
    const PARAMS: &'static [Param] = &[
        Param::new(&["name"], "name", Test::Instr, Kind::Text),
        Param::eq(&["view"], Kind::Choice(VIEWS)),
    ];
}

impl Filtered for UiElementName {
    type Filter = Given<Self>;
}

/// Fields of a UI element name create or PATCH.
#[derive(Debug, Default, Clone)]
pub(crate) struct NameInput {
    /// Name (required on create).
    pub name: Option<String>,
    /// Description; `Some(None)` clears it.
    pub description: Option<Option<String>>,
    /// One of [`VIEWS`] (required on create).
    pub view: Option<String>,
}

impl Editable for UiElementName {
    type Input = NameInput;

    /// Creates a UI element name.
    ///
    /// # Errors
    /// Only SQLite failures.
    fn create(tx: &Transaction<'_>, n: &NameInput) -> StoreResult<Self> {
        tx.execute(
            "INSERT INTO ui_element_names (name, description, view) VALUES (?1, ?2, ?3)",
            rusqlite::params![
                n.name.as_deref().unwrap_or(""),
                n.description.clone().flatten(),
                n.view.as_deref().unwrap_or("home"),
            ],
        )?;
        UiElementName::get(tx, tx.last_insert_rowid())
    }

    /// Applies a PATCH to a UI element name.
    ///
    /// # Errors
    /// Not found.
    fn patch(tx: &Transaction<'_>, id: i64, n: &NameInput) -> StoreResult<Self> {
        UiElementName::get(tx, id)?;
        let mut a = Assignments::default();
        a.set("name", n.name.clone())
            .set("description", n.description.clone())
            .set("view", n.view.clone());
        a.apply(tx, "ui_element_names", id)?;
        UiElementName::get(tx, id)
    }
}

// ---------------------------------------------------------------------------------------
// projects/:id/uielements/

/// One element in the per-project document.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct ProjectElement {
    /// Label colour.
    pub label_text_color: String,
    /// Label position.
    pub label_position: String,
    /// `<name><variant>.<ext>`, the file inside the project's zip.
    pub file_name: String,
    /// The label, resolved in the requested language.
    pub label_text: Option<String>,
}

/// Every view (all of [`VIEWS`], even empty ones) mapping element name → element, for one
/// project and variant; `f` narrows further (its project and variant are overridden). When
/// two elements of a view share a name, the later one wins.
///
/// # Errors
/// [`StoreError::NotFound`] for an unknown project.
pub(crate) fn for_project(
    conn: &Connection,
    project_id: i64,
    variant: &str,
    f: &Given<UiElement>,
    language_id: i64,
) -> StoreResult<BTreeMap<String, BTreeMap<String, ProjectElement>>> {
    if !super::sql::exists(conn, "projects", project_id)? {
        return Err(StoreError::not_found("project", project_id));
    }
    let mut views: BTreeMap<String, BTreeMap<String, ProjectElement>> = VIEWS
        .iter()
        .map(|v| ((*v).to_string(), BTreeMap::new()))
        .collect();
    let w = f
        .clone()
        .with("project_id", project_id)
        .with("variant", variant.to_string())
        .where_clause();
    let mut stmt = conn.prepare(&format!(
        "SELECT e.id, n.name, n.view, e.variant, e.file_extension, e.label_text_color, e.label_position
           FROM ui_elements e JOIN ui_element_names n ON n.id = e.uielementname_id{} ORDER BY e.id",
        w.sql()
    ))?;
    let rows = stmt
        .query_map(w.params(), |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, String>(6)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    for (id, name, view, variant, ext, color, position) in rows {
        let element = ProjectElement {
            label_text_color: color,
            label_position: position,
            file_name: format!("{name}{variant}.{ext}"),
            label_text: loc::resolve(conn, Owner::UiElement, id, "label_text", language_id)?,
        };
        views.entry(view).or_default().insert(name, element);
    }
    Ok(views)
}
