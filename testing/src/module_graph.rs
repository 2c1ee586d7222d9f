//! Proves that a crate's `src/` has no import cycles between its module files.
//!
//! Why: rustc accepts modules that import each other, but such cycles make a crate hard to
//! split, test and reason about. This module turns "no cycles" into a test that can fail: it
//! parses every module file with `syn`, resolves each crate-local path a file names (through
//! `use` trees, module aliases, globs and `pub use` re-exports) to the file that defines the
//! item, and reports the strongly connected components of the resulting file graph.
//!
//! Limits, by design (resolution is syntactic, best effort): type and value namespaces are not
//! told apart; local variables and generics never shadow imports; a `use` inside a fn body counts
//! for its whole module; single-segment paths in code are not resolved (their `use` made the
//! edge); macro bodies are only scanned for `a::b` token runs; `mod` items inside fn bodies are
//! ignored; the edges of a `lib.rs` and a `main.rs` root that share files share one graph.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::path::{Component, Path, PathBuf};
use std::{fmt, fs};

use syn::buffer::{Cursor, TokenBuffer};
use syn::ext::IdentExt as _;
use syn::visit::{self, Visit};
use syn::{Ident, Item, UseTree};

/// Why a crate could not be analysed: a missing crate root, or a module file that is missing,
/// unreadable or not valid Rust. It names the file, so a failing test says where to look.
#[derive(Debug)]
pub struct GraphError {
    /// The file (or, without a crate root, the directory) at fault.
    pub file: PathBuf,
    /// What is wrong with it.
    pub message: String,
}

impl GraphError {
    fn new(file: &Path, message: impl fmt::Display) -> Self {
        Self { file: file.to_path_buf(), message: message.to_string() }
    }
}

impl fmt::Display for GraphError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.file.display(), self.message)
    }
}

impl std::error::Error for GraphError {}

/// The files of a crate (relative to `src/`) and which files name items of which others.
///
/// Why a separate value rather than only [`assert_acyclic`]: tests and debugging sessions can
/// inspect the edges and the reason (first path seen) for each one.
#[derive(Debug, Clone, Default)]
pub struct ModuleGraph {
    files: BTreeSet<PathBuf>,
    /// from → to → the first path in `from` that resolved to `to`, e.g. `crate::b::X`.
    edges: BTreeMap<PathBuf, BTreeMap<PathBuf, String>>,
}

impl ModuleGraph {
    /// Parses every module file reachable from `src_dir/lib.rs` and `src_dir/main.rs` (each root
    /// is analysed as its own crate) and resolves the crate-local paths they name.
    ///
    /// # Errors
    /// No crate root, or a module file that is missing, unreadable or not valid Rust.
    pub fn of_crate(src_dir: &Path) -> Result<Self, GraphError> {
        let mut crates = Crates { src: src_dir.to_path_buf(), ..Crates::default() };
        let roots: Vec<&str> =
            ["lib.rs", "main.rs"].into_iter().filter(|r| src_dir.join(r).is_file()).collect();
        if roots.is_empty() {
            return Err(GraphError::new(src_dir, "has neither lib.rs nor main.rs"));
        }
        for root in roots {
            crates.load_file(Path::new(root), None, Path::new(""))?;
        }
        let mut graph = Self { files: crates.files.iter().cloned().collect(), ..Self::default() };
        for (id, node) in crates.nodes.iter().enumerate() {
            for path in &node.refs {
                let target = crates.resolve(id, path, &mut Vec::new());
                let Some(Target::Module(n) | Target::Item(n)) = target else { continue };
                let to = crates.nodes[n].file;
                if to != node.file {
                    let from = crates.files[node.file].clone();
                    let targets = graph.edges.entry(from).or_default();
                    targets.entry(crates.files[to].clone()).or_insert_with(|| path.join("::"));
                }
            }
        }
        Ok(graph)
    }

    /// Every module file found, relative to `src/`.
    pub fn files(&self) -> impl Iterator<Item = &Path> {
        self.files.iter().map(PathBuf::as_path)
    }

    /// Every edge `(a, b)`: file `a` names an item or module defined in file `b`.
    pub fn edges(&self) -> impl Iterator<Item = (&Path, &Path)> {
        self.edges.iter().flat_map(|(a, to)| to.keys().map(move |b| (a.as_path(), b.as_path())))
    }

    /// The first path in `from` that resolved to `to`, e.g. `crate::b::X`: why the edge exists.
    pub fn why(&self, from: &Path, to: &Path) -> Option<&str> {
        self.edges.get(from)?.get(to).map(String::as_str)
    }

    /// One shortest closed path `a, b, ..., a` per strongly connected component with a cycle,
    /// starting at the component's smallest file; components ordered by that file.
    pub fn cycles(&self) -> Vec<Vec<PathBuf>> {
        self.components().into_iter().filter_map(|(_, cycles)| cycles.into_iter().next()).collect()
    }

    /// The cyclic components as (members, shortest cycles that together visit every member).
    fn components(&self) -> Vec<(Vec<PathBuf>, Vec<Vec<PathBuf>>)> {
        let files: Vec<&PathBuf> = self.files.iter().collect();
        let index: HashMap<&PathBuf, usize> =
            files.iter().enumerate().map(|(i, f)| (*f, i)).collect();
        let succ: Vec<Vec<usize>> = files
            .iter()
            .map(|f| self.edges.get(*f).map(|t| t.keys().map(|b| index[b]).collect()))
            .map(Option::unwrap_or_default)
            .collect();
        let searches: Vec<_> = (0..files.len()).map(|v| search(&succ, v)).collect();
        let mut done = vec![false; files.len()];
        let mut found = Vec::new();
        for (v, (reached, cycle)) in searches.iter().enumerate() {
            let (false, Some(cycle)) = (done[v], cycle) else { continue };
            let members: Vec<usize> =
                (0..files.len()).filter(|&u| reached[u] && searches[u].0[v]).collect();
            let mut cycles = vec![cycle];
            for &u in &members {
                if !cycles.iter().any(|c| c.contains(&u)) {
                    cycles.extend(&searches[u].1);
                }
                done[u] = true;
            }
            let named = |ids: &[usize]| ids.iter().map(|&i| files[i].clone()).collect();
            found.push((named(&members), cycles.iter().map(|c| named(c)).collect()));
        }
        found
    }

    /// A readable report of every cycle and why each step exists, or `None` if acyclic.
    fn report(&self) -> Option<String> {
        let components = self.components();
        if components.is_empty() {
            return None;
        }
        let mut out = format!("{} group(s) of module files import each other:\n", components.len());
        for (members, cycles) in components {
            let names: Vec<String> = members.iter().map(|p| show(p)).collect();
            out.push_str(&format!(
                "\n  group {{{}}}, cycles through all of it:\n",
                names.join(", ")
            ));
            for cycle in cycles {
                let names: Vec<String> = cycle.iter().map(|p| show(p)).collect();
                out.push_str(&format!("    {}\n", names.join(" -> ")));
                for step in cycle.windows(2) {
                    let (from, to) = (show(&step[0]), show(&step[1]));
                    let via = self.why(&step[0], &step[1]).unwrap_or_default();
                    out.push_str(&format!("        {from} -> {to}  via `{via}`\n"));
                }
            }
        }
        Some(out)
    }
}

/// Panics with a report of every import cycle between the module files under `src_dir`.
///
/// Why: a test in each crate calls this with `Path::new(env!("CARGO_MANIFEST_DIR")).join("src")`
/// so that a new cycle fails CI with the files and the paths that close it.
#[track_caller]
pub fn assert_acyclic(src_dir: impl AsRef<Path>) {
    let src_dir = src_dir.as_ref();
    let graph = match ModuleGraph::of_crate(src_dir) {
        Ok(graph) => graph,
        Err(error) => panic!("cannot build the module graph of {}: {error}", src_dir.display()),
    };
    if let Some(report) = graph.report() {
        panic!("{} (under {})", report, src_dir.display());
    }
}

/// Breadth-first search from `start`: which files it reaches, and a shortest cycle back to it.
fn search(succ: &[Vec<usize>], start: usize) -> (Vec<bool>, Option<Vec<usize>>) {
    let (mut reached, mut prev) = (vec![false; succ.len()], vec![start; succ.len()]);
    let (mut queue, mut back) = (VecDeque::from([start]), None);
    while let Some(u) = queue.pop_front() {
        for &w in &succ[u] {
            if w == start && back.is_none() {
                back = Some(u);
            }
            if !reached[w] {
                (reached[w], prev[w]) = (true, u);
                queue.push_back(w);
            }
        }
    }
    let cycle = back.map(|mut u| {
        let mut path = vec![start, u];
        while u != start {
            u = prev[u];
            path.push(u);
        }
        path.reverse();
        path
    });
    (reached, cycle)
}

/// `a/b.rs` with `/` on every platform, as the report promises.
fn show(path: &Path) -> String {
    let parts: Vec<_> = path.components().map(|c| c.as_os_str().to_string_lossy()).collect();
    parts.join("/")
}

/// A module: a file, or an inline `mod x { ... }` that belongs to its file.
#[derive(Debug, Default)]
struct Node {
    file: usize,
    parent: Option<usize>,
    root: usize,
    children: HashMap<String, usize>,
    /// Item names defined here → defining node (differs for `#[macro_export]` at the root).
    items: HashMap<String, usize>,
    /// Names that lead out of the analysed files: `extern crate`s, modules without a file.
    opaque: BTreeSet<String>,
    /// Names brought in by `use` → the path as written.
    imports: HashMap<String, Vec<String>>,
    globs: Vec<Vec<String>>,
    /// Every path that may make an edge: `use` paths (globs end in `*`) and paths in code.
    refs: Vec<Vec<String>>,
}

/// What a path resolves to: a module, an item defined in a module, or something outside the
/// analysed files (another crate, a module whose file is not there).
#[derive(Debug, Clone, Copy)]
enum Target {
    Module(usize),
    Item(usize),
    Extern,
}

/// The module trees of the crate roots, before edges are computed.
#[derive(Debug, Default)]
struct Crates {
    src: PathBuf,
    files: Vec<PathBuf>,
    nodes: Vec<Node>,
}

impl Crates {
    /// Loads `rel` as a module whose `mod x;` children live in `child_dir`.
    fn load_file(
        &mut self,
        rel: &Path,
        parent: Option<usize>,
        child_dir: &Path,
    ) -> Result<usize, GraphError> {
        let full = self.src.join(rel);
        let text = fs::read_to_string(&full).map_err(|e| GraphError::new(&full, e))?;
        let ast = syn::parse_file(&text)
            .map_err(|e| GraphError::new(&full, format!("line {}: {e}", e.span().start().line)))?;
        let file = self.files.iter().position(|f| *f == rel).unwrap_or(self.files.len());
        if file == self.files.len() {
            self.files.push(rel.to_path_buf());
        }
        let node = self.new_node(file, parent);
        let path_dir = rel.parent().map(Path::to_path_buf).unwrap_or_default();
        self.load_items(node, &ast.items, child_dir, &path_dir)?;
        Ok(node)
    }

    fn new_node(&mut self, file: usize, parent: Option<usize>) -> usize {
        let root = parent.map_or(self.nodes.len(), |p| self.nodes[p].root);
        self.nodes.push(Node { file, parent, root, ..Node::default() });
        self.nodes.len() - 1
    }

    /// Records the items of one module; `path_dir` is where `#[path]` attributes start from.
    fn load_items(
        &mut self,
        node: usize,
        items: &[Item],
        child_dir: &Path,
        path_dir: &Path,
    ) -> Result<(), GraphError> {
        let mut refs = Refs::default();
        for item in items {
            let Item::Mod(m) = item else {
                self.define(node, item);
                refs.visit_item(item);
                continue;
            };
            let name = text(&m.ident);
            let path_attr = path_attr(&m.attrs);
            let child = if let Some((_, inner)) = &m.content {
                // rustc: `#[path]` on an inline module names a directory, from the file's.
                let dir = path_attr.map_or_else(|| child_dir.join(&name), |p| path_dir.join(p));
                let child = self.new_node(self.nodes[node].file, Some(node));
                self.load_items(child, inner, &dir, &dir)?;
                child
            } else {
                let (rel, dir) = match path_attr {
                    Some(p) => {
                        let rel = normalize(&path_dir.join(p));
                        let dir = rel.parent().map(Path::to_path_buf).unwrap_or_default();
                        (rel, dir)
                    }
                    None => {
                        let flat = child_dir.join(format!("{name}.rs"));
                        let nested = child_dir.join(&name).join("mod.rs");
                        let rel = if self.src.join(&flat).is_file() { flat } else { nested };
                        (rel, child_dir.join(&name))
                    }
                };
                let declared_in = self.src.join(&self.files[self.nodes[node].file]);
                if !self.src.join(&rel).is_file() {
                    let is = |a: &syn::Attribute, name| a.path().is_ident(name);
                    if m.attrs.iter().any(|a| is(a, "cfg") || is(a, "cfg_attr")) {
                        // A platform module, or one placed by `cfg_attr(.., path = ..)`.
                        self.nodes[node].opaque.insert(name);
                        continue;
                    }
                    let missing = format!("`mod {name};` has no file {}", rel.display());
                    return Err(GraphError::new(&declared_in, missing));
                }
                let mut ancestors = std::iter::successors(Some(node), |&n| self.nodes[n].parent);
                if ancestors.any(|n| self.files[self.nodes[n].file] == rel) {
                    return Err(GraphError::new(&declared_in, format!("`mod {name};` loops")));
                }
                self.load_file(&rel, Some(node), &dir)?
            };
            self.nodes[node].children.insert(name, child);
        }
        let node = &mut self.nodes[node];
        (node.imports, node.globs, node.refs) = (refs.imports, refs.globs, refs.paths);
        Ok(())
    }

    /// Records the name an item defines, so a path through a facade can tell items from imports.
    fn define(&mut self, node: usize, item: &Item) {
        let ident = match item {
            Item::Const(i) => &i.ident,
            Item::Enum(i) => &i.ident,
            Item::Fn(i) => &i.sig.ident,
            Item::Static(i) => &i.ident,
            Item::Struct(i) => &i.ident,
            Item::Trait(i) => &i.ident,
            Item::TraitAlias(i) => &i.ident,
            Item::Type(i) => &i.ident,
            Item::Union(i) => &i.ident,
            Item::Macro(syn::ItemMacro { ident: Some(ident), .. }) => ident,
            Item::ExternCrate(e) => {
                let name = e.rename.as_ref().map_or(&e.ident, |(_, rename)| rename);
                self.nodes[node].opaque.insert(text(name));
                return;
            }
            _ => return,
        };
        let exported =
            |i: &syn::ItemMacro| i.attrs.iter().any(|a| a.path().is_ident("macro_export"));
        let home = if matches!(item, Item::Macro(i) if exported(i)) {
            self.nodes[node].root
        } else {
            node
        };
        self.nodes[home].items.insert(text(ident), node);
    }

    /// Resolves `path` as written in module `scope`; `None` or `Extern` for other crates.
    /// `stack` holds the lookups in progress, which stops re-export loops.
    fn resolve(
        &self,
        scope: usize,
        path: &[String],
        stack: &mut Vec<(usize, String)>,
    ) -> Option<Target> {
        let (first, mut rest) = path.split_first()?;
        let mut cur = match first.as_str() {
            "crate" => self.nodes[scope].root,
            "self" => scope,
            "super" => self.nodes[scope].parent?,
            _ => match self.lookup(scope, first, stack)? {
                Target::Module(m) => m,
                other => return Some(other),
            },
        };
        while let Some((seg, tail)) = rest.split_first()
            && seg == "super"
        {
            (cur, rest) = (self.nodes[cur].parent?, tail);
        }
        for seg in rest {
            match self.lookup(cur, seg, stack) {
                Some(Target::Module(m)) => cur = m,
                Some(other) => return Some(other),
                None => return Some(Target::Item(cur)), // defined here, e.g. by a macro
            }
        }
        Some(Target::Module(cur))
    }

    /// What `name` means inside module `node`: a child module, an item, an import, or
    /// (best effort) a name that one of its glob imports provides.
    fn lookup(&self, node: usize, name: &str, stack: &mut Vec<(usize, String)>) -> Option<Target> {
        let n = &self.nodes[node];
        if let Some(&child) = n.children.get(name) {
            return Some(Target::Module(child));
        }
        if let Some(&home) = n.items.get(name) {
            return Some(Target::Item(home));
        }
        if n.opaque.contains(name) {
            return Some(Target::Extern);
        }
        let key = (node, name.to_owned());
        if stack.contains(&key) {
            return None;
        }
        stack.push(key);
        let found = match n.imports.get(name) {
            Some(path) => Some(self.resolve(node, path, stack).unwrap_or(Target::Extern)),
            // Only globs of this crate: extern ones (`use tokio::prelude::*`) cannot provide it.
            None => n.globs.iter().filter(|glob| self.starts_local(node, glob)).find_map(|glob| {
                match self.resolve(node, glob, stack)? {
                    Target::Module(m) if m != node => self.lookup(m, name, stack),
                    _ => None,
                }
            }),
        };
        stack.pop();
        found
    }

    /// Whether `path`, written in module `node`, starts inside this crate without globs.
    fn starts_local(&self, node: usize, path: &[String]) -> bool {
        let n = &self.nodes[node];
        path.first().is_some_and(|first| {
            matches!(first.as_str(), "crate" | "self" | "super")
                || n.children.contains_key(first)
                || n.imports.contains_key(first)
        })
    }
}

/// An identifier as a name: `r#type` is `type`, as in file names and other paths.
fn text(ident: &Ident) -> String {
    ident.unraw().to_string()
}

/// The value of a `#[path = "..."]` attribute.
fn path_attr(attrs: &[syn::Attribute]) -> Option<String> {
    let attr = attrs.iter().find(|a| a.path().is_ident("path"))?;
    let syn::Meta::NameValue(nv) = &attr.meta else { return None };
    let syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(s), .. }) = &nv.value else { return None };
    Some(s.value())
}

/// Lexically removes `.` and inner `..`, so `#[path = "../x.rs"]` in `a/m.rs` names `x.rs`.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::ParentDir
                if matches!(out.components().next_back(), Some(Component::Normal(_))) =>
            {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// Collects the `use`s and multi-segment paths of one module's items (not of nested modules).
#[derive(Debug, Default)]
struct Refs {
    imports: HashMap<String, Vec<String>>,
    globs: Vec<Vec<String>>,
    paths: Vec<Vec<String>>,
}

impl Refs {
    fn use_tree(&mut self, tree: &UseTree, prefix: &mut Vec<String>) {
        match tree {
            UseTree::Path(p) => {
                prefix.push(text(&p.ident));
                self.use_tree(&p.tree, prefix);
                prefix.pop();
            }
            UseTree::Name(n) => self.bind(prefix, &n.ident, &n.ident),
            UseTree::Rename(r) => self.bind(prefix, &r.ident, &r.rename),
            UseTree::Glob(_) => {
                self.globs.push(prefix.clone());
                self.paths.push([prefix.as_slice(), &["*".to_owned()]].concat());
            }
            UseTree::Group(g) => g.items.iter().for_each(|t| self.use_tree(t, prefix)),
        }
    }

    fn bind(&mut self, prefix: &[String], ident: &Ident, name: &Ident) {
        let mut path = prefix.to_vec();
        if ident != "self" {
            path.push(text(ident));
        }
        let Some(last) = path.last() else { return };
        let name = if name == "self" { last.clone() } else { text(name) };
        if name != "_" {
            self.imports.insert(name, path.clone());
        }
        self.paths.push(path);
    }
}

impl<'ast> Visit<'ast> for Refs {
    fn visit_item_mod(&mut self, _: &'ast syn::ItemMod) {}

    fn visit_vis_restricted(&mut self, _: &'ast syn::VisRestricted) {}

    fn visit_item_use(&mut self, node: &'ast syn::ItemUse) {
        let mut prefix = node.leading_colon.map(|_| vec!["::".to_owned()]).unwrap_or_default();
        self.use_tree(&node.tree, &mut prefix); // `::x` paths name other crates: no edge
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        if path.leading_colon.is_none() && path.segments.len() > 1 {
            self.paths.push(path.segments.iter().map(|s| text(&s.ident)).collect());
        }
        visit::visit_path(self, path);
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        self.visit_path(&mac.path);
        let tokens = TokenBuffer::new2(mac.tokens.clone());
        scan(tokens.begin(), &mut self.paths);
    }
}

/// Collects `a::b::c` runs from macro tokens, which syn leaves unparsed (`$crate` included).
fn scan(mut cur: Cursor<'_>, out: &mut Vec<Vec<String>>) {
    let (mut run, mut sep) = (Vec::new(), false);
    while !cur.eof() {
        if let Some((ident, next)) = cur.ident() {
            if !sep {
                flush(&mut run, out);
            }
            run.push(text(&ident));
            (sep, cur) = (false, next);
        } else if let Some((a, next)) = cur.punct()
            && let Some((b, after)) = next.punct()
            && (a.as_char(), b.as_char(), sep) == (':', ':', false)
            && !run.is_empty()
        {
            (sep, cur) = (true, after);
        } else {
            flush(&mut run, out);
            sep = false;
            if let Some((inner, _, _, next)) = cur.any_group() {
                scan(inner, out);
                cur = next;
            } else if let Some((_, next)) = cur.token_tree() {
                cur = next;
            }
        }
    }
    flush(&mut run, out);
}

fn flush(run: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    if run.len() > 1 {
        out.push(std::mem::take(run));
    }
    run.clear();
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes `files` (path relative to `src/`, contents) into a fresh directory.
    fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("create a temp dir");
        for (rel, text) in files {
            let path = dir.path().join(rel);
            fs::create_dir_all(path.parent().expect("a file has a parent")).expect("mkdir");
            fs::write(path, text).expect("write a module file");
        }
        dir
    }

    fn graph(files: &[(&str, &str)]) -> ModuleGraph {
        ModuleGraph::of_crate(tree(files).path()).expect("the module graph builds")
    }

    fn cycles(graph: &ModuleGraph) -> Vec<String> {
        let show_all =
            |c: &Vec<PathBuf>| c.iter().map(|p| show(p)).collect::<Vec<_>>().join(" -> ");
        graph.cycles().iter().map(show_all).collect()
    }

    fn has_edge(graph: &ModuleGraph, from: &str, to: &str) -> bool {
        graph.edges().any(|(a, b)| show(a) == from && show(b) == to)
    }

    #[test]
    fn two_files_importing_each_other_are_one_cycle() {
        let g = graph(&[
            ("lib.rs", "mod a; mod b;"),
            ("a.rs", "use crate::b::X; pub struct Y;"),
            ("b.rs", "use crate::a::Y; pub struct X;"),
        ]);
        assert_eq!(cycles(&g), ["a.rs -> b.rs -> a.rs"]);
    }

    #[test]
    fn a_facade_resolves_to_the_child_that_defines_the_item() {
        let g = graph(&[
            ("lib.rs", "mod m;"),
            (
                "m/mod.rs",
                "mod child1; mod child2; pub use child1::A; pub(crate) use child2::{B as Bee};",
            ),
            ("m/child1.rs", "pub struct A;"),
            ("m/child2.rs", "use super::A; pub struct B(A, crate::m::A);"),
        ]);
        assert_eq!(cycles(&g), Vec::<String>::new());
        assert!(has_edge(&g, "m/child2.rs", "m/child1.rs"));
        assert!(!has_edge(&g, "m/child2.rs", "m/mod.rs"));
    }

    #[test]
    fn a_cycle_through_a_re_export_is_found() {
        let g = graph(&[
            ("lib.rs", "mod a; mod m;"),
            ("a.rs", "use crate::m::X; pub fn f() {}"),
            ("m/mod.rs", "mod inner; pub use inner::X;"),
            ("m/inner.rs", "pub struct X; fn g() { crate::a::f(); }"),
        ]);
        assert_eq!(cycles(&g), ["a.rs -> m/inner.rs -> a.rs"]);
    }

    #[test]
    fn paths_in_code_and_macros_make_edges_without_use() {
        let g = graph(&[
            ("lib.rs", "mod a; mod b;"),
            ("a.rs", "pub fn g() {} fn x() { crate::b::f(); }"),
            ("b.rs", "pub fn f() { println!(\"{}\", crate::a::g as usize); }"),
        ]);
        assert_eq!(cycles(&g), ["a.rs -> b.rs -> a.rs"]);
    }

    #[test]
    fn a_test_module_counts_as_its_file() {
        let g = graph(&[
            ("lib.rs", "mod a; mod other;"),
            (
                "a.rs",
                "pub fn f() {} #[cfg(test)] mod tests { \
                    use super::*; use crate::other; fn t() { f(); other::h(); } }",
            ),
            ("other.rs", "pub fn h() {}"),
        ]);
        assert_eq!(cycles(&g), Vec::<String>::new());
        assert_eq!(
            g.edges().map(|(a, b)| (show(a), show(b))).collect::<Vec<_>>(),
            [("a.rs".to_owned(), "other.rs".to_owned())]
        );
    }

    #[test]
    fn a_child_using_its_parents_item_while_the_parent_uses_the_child_is_a_cycle() {
        let g = graph(&[
            ("lib.rs", "mod p;"),
            ("p/mod.rs", "mod child; pub struct Item; pub fn f(_: child::Thing) {}"),
            ("p/child.rs", "pub struct Thing(super::Item);"),
        ]);
        assert_eq!(cycles(&g), ["p/child.rs -> p/mod.rs -> p/child.rs"]);
    }

    #[test]
    fn only_the_cycle_is_reported_and_once() {
        let g = graph(&[
            ("lib.rs", "mod a; mod b; mod c; mod d; mod e;"),
            ("a.rs", "use crate::b::B; pub struct A;"),
            ("b.rs", "use crate::c::C; pub struct B;"),
            ("c.rs", "use crate::a::A; use crate::d::D; pub struct C;"),
            ("d.rs", "use crate::e::E; pub struct D;"),
            ("e.rs", "pub struct E;"),
            ("main.rs", "use my_lib::a::A; fn main() { crate::helper(); } fn helper() {}"),
        ]);
        assert_eq!(cycles(&g), ["a.rs -> b.rs -> c.rs -> a.rs"]);
    }

    #[test]
    fn a_module_alias_resolves_like_its_full_path() {
        let g = graph(&[
            ("lib.rs", "mod a; mod store;"),
            ("a.rs", "use crate::store; fn f() { store::connect(); }"),
            ("store/mod.rs", "mod connect; pub use connect::connect;"),
            ("store/connect.rs", "pub fn connect() {}"),
        ]);
        assert!(has_edge(&g, "a.rs", "store/connect.rs"));
        assert_eq!(cycles(&g), Vec::<String>::new());
    }

    #[test]
    fn glob_re_export_loops_terminate() {
        let g = graph(&[
            ("lib.rs", "mod a; mod b; mod c;"),
            ("a.rs", "pub use crate::b::*;"),
            ("b.rs", "pub use crate::a::*;"),
            ("c.rs", "fn f() { crate::a::Missing::new(); }"),
        ]);
        assert_eq!(cycles(&g), ["a.rs -> b.rs -> a.rs"]);
        assert!(has_edge(&g, "c.rs", "a.rs"));
    }

    #[test]
    fn glob_re_exports_and_path_attributes_are_followed() {
        let g = graph(&[
            (
                "lib.rs",
                "extern crate alloc as a; mod f; #[path = \"elsewhere/impl_b.rs\"] mod b; mod c;",
            ),
            ("f/mod.rs", "mod inner; pub use inner::*;"),
            ("f/inner.rs", "pub struct Thing;"),
            ("elsewhere/impl_b.rs", "pub fn b() -> crate::f::Thing { crate::f::Thing }"),
            (
                "c.rs",
                "use tokio::prelude::*; use crate::b::*; \
                 fn g() { x::y(); crate::a::vec::Vec::new(); }",
            ),
        ]);
        assert!(has_edge(&g, "elsewhere/impl_b.rs", "f/inner.rs"));
        assert!(!has_edge(&g, "elsewhere/impl_b.rs", "f/mod.rs"));
        assert!(has_edge(&g, "c.rs", "elsewhere/impl_b.rs"));
        assert!(!has_edge(&g, "c.rs", "lib.rs"));
    }

    #[test]
    fn parse_failures_name_the_file() {
        let dir = tree(&[("lib.rs", "mod a;"), ("a.rs", "fn (")]);
        let error = ModuleGraph::of_crate(dir.path()).expect_err("a.rs is not Rust").to_string();
        assert!(error.contains("a.rs"), "{error}");
    }

    #[test]
    #[should_panic(expected = "a.rs -> b.rs -> a.rs")]
    fn assert_acyclic_panics_with_the_cycle() {
        let dir = tree(&[
            ("lib.rs", "mod a; mod b;"),
            ("a.rs", "use crate::b::X; pub struct Y;"),
            ("b.rs", "use crate::a::Y; pub struct X;"),
        ]);
        assert_acyclic(dir.path());
    }
}
