/* stilts leaderboard: progressive enhancement only; every number is in the HTML without it.
 *
 * Plain ES2017, no dependencies, no network requests. It adds, where the page has what they act on:
 *  - a theme switch (system / light / dark) in the header, kept in localStorage ("stilts-theme")
 *    and applied as <html data-theme="light|dark"> (style.css has the rules; "system" removes it);
 *  - filters in #controls: model, method and intermediate (from the body rows' data-model,
 *    data-method and data-intermediate); on task pages a language group (family, script or
 *    resource class, from the language headers' data-family/-script/-resource) that hides the other
 *    language columns; on the index a task category (from the headers' data-category) that hides
 *    the columns of other categories. A column's body cells are found by its index;
 *  - permalinks: filters and the last sort (table id, column index, direction) live in
 *    location.hash, e.g. #intermediate=mnli&languages=family%3AIndo-European&sort=deltas%3A4%3Adesc,
 *    and are restored from it on load (also from file://) and when the hash changes;
 *  - a "Download visible rows (CSV)" button under each sortable table: exactly the visible rows
 *    and columns, one header row, each cell's text.
 * Sorting itself is vendor-sortable.min.js (sortable-tablesort with its a11y plugin): a click, or
 * Enter on a focused header, sorts by the cells' data-sort and sets aria-sort; this file adds Space,
 * records sorts in the hash and replays a sort from the hash with the library's sortSortable().
 */
(function () {
  'use strict';

  const THEME_KEY = 'stilts-theme';
  const ROW_FILTERS = ['model', 'method', 'intermediate'];
  const LANGUAGE_GROUPS = [['family', 'Family'], ['script', 'Script'], ['resource', 'Resource class (0 lowest, 5 highest)']];
  const HIDDEN = 'hidden-by-filter';
  const root = document.documentElement;
  const state = { model: '', method: '', intermediate: '', languages: '', category: '', sort: '' };
  let writtenHash = null;

  function make(tag, attributes, children) {
    const node = document.createElement(tag);
    Object.keys(attributes || {}).forEach((key) => node.setAttribute(key, attributes[key]));
    (children || []).forEach((child) => node.append(child));
    return node;
  }
  function select(id, text, options) {  // options: [value, label] pairs or <optgroup>s
    const box = make('select', { id: id });
    box.append(make('option', { value: '' }, ['all']));
    options.forEach((o) => box.append(Array.isArray(o) ? make('option', { value: o[0] }, [o[1]]) : o));
    return make('label', { for: id }, [text, box]);
  }
  const unique = (values) => Array.from(new Set(values)).sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));

  // ---- theme ------------------------------------------------------------------------------
  function storedTheme() {
    let theme = 'system';
    try { theme = localStorage.getItem(THEME_KEY) || theme; } catch (e) { /* storage blocked */ }
    return theme === 'light' || theme === 'dark' ? theme : 'system';
  }
  function applyTheme(theme) {
    if (theme === 'light' || theme === 'dark') root.dataset.theme = theme;
    else delete root.dataset.theme;
  }
  applyTheme(storedTheme());  // as early as a deferred script can

  function addThemeSwitch() {
    const header = document.querySelector('header');
    if (!header) return;
    const label = select('theme-choice', 'Theme', [['light', 'light'], ['dark', 'dark']]);
    const box = label.querySelector('select');
    box.options[0].textContent = 'system';
    box.value = storedTheme() === 'system' ? '' : storedTheme();
    box.addEventListener('change', () => {
      const theme = box.value || 'system';
      try { localStorage.setItem(THEME_KEY, theme); } catch (e) { /* private mode: this page only */ }
      applyTheme(theme);
    });
    header.prepend(make('div', { class: 'theme-switch' }, [label]));
  }

  // ---- the page's rows, columns and controls ---------------------------------------------------
  const rows = Array.from(document.querySelectorAll('main tbody tr[data-model]'));
  const tables = Array.from(document.querySelectorAll('main table')).filter((t) => t.tHead && t.tHead.rows.length);
  const headerRow = (table) => table.tHead.rows[0];
  const langHeaders = Array.from(document.querySelectorAll('main thead th[data-lang]'));
  const categoryHeaders = Array.from(document.querySelectorAll('main thead th[data-category]'))
    .filter((th) => th.dataset.category);

  function languageOptions() {
    const langs = {};  // lang -> its header (the first table that has it)
    langHeaders.forEach((th) => { langs[th.dataset.lang] = langs[th.dataset.lang] || th; });
    return LANGUAGE_GROUPS.map((group) => {
      const key = group[0];
      const values = unique(Object.keys(langs).map((lang) => langs[lang].dataset[key]));
      const box = make('optgroup', { label: group[1] });
      values.forEach((value) => {
        const members = Object.keys(langs).filter((lang) => langs[lang].dataset[key] === value).sort();
        const name = key === 'resource' ? 'class ' + value : value;
        box.append(make('option', { value: key + ':' + value }, [name + ' (' + members.join(', ') + ')']));
      });
      return box;
    });
  }
  function categoryOptions() {
    return unique(categoryHeaders.map((th) => th.dataset.category)).map((key) => {
      const named = document.querySelector('main thead th.category[data-category="' + CSS.escape(key) + '"]');
      return [key, named && named.firstChild ? named.firstChild.textContent.trim() : key.replace(/_/g, ' ')];
    });
  }

  function addControls() {
    const controls = document.getElementById('controls');
    if (!controls || !rows.length) return;
    const parts = ROW_FILTERS.map((key) => select('filter-' + key, key,
      unique(rows.map((row) => row.dataset[key])).map((value) => [value, value])));
    if (langHeaders.length) parts.push(select('filter-languages', 'languages', languageOptions()));
    if (categoryHeaders.length) parts.push(select('filter-category', 'task category', categoryOptions()));
    const reset = make('button', { type: 'button', id: 'filter-reset' }, ['Show all']);
    const status = make('p', { id: 'filter-status', role: 'status', class: 'status' });
    controls.append(...parts, reset, status);
    controls.setAttribute('role', 'group');
    controls.setAttribute('aria-label', 'Filter the tables');
    controls.addEventListener('change', (event) => {
      const key = event.target.id.replace(/^filter-/, '');
      if (key in state) { state[key] = event.target.value; update(); }
    });
    reset.addEventListener('click', () => {
      ['model', 'method', 'intermediate', 'languages', 'category'].forEach((key) => { state[key] = ''; });
      update();
    });
    controls.hidden = false;
  }
  function syncControls() {  // the selects show the state (after reading the hash)
    Object.keys(state).forEach((key) => {
      const box = document.getElementById('filter-' + key);
      if (!box) {
        if (key !== 'sort') state[key] = '';  // a filter this page does not have
        return;
      }
      const known = Array.from(box.options).some((option) => option.value === state[key]);
      if (!known) state[key] = '';
      box.value = state[key];
    });
  }

  // ---- applying the filters -------------------------------------------------------------------
  function columnShown(th) {
    if (state.languages && th.dataset.lang !== undefined) {
      const cut = state.languages.indexOf(':');
      return th.dataset[state.languages.slice(0, cut)] === state.languages.slice(cut + 1);
    }
    if (state.category && th.dataset.category !== undefined) return th.dataset.category === state.category;
    return true;
  }
  function applyFilters() {
    rows.forEach((row) => {
      const shown = ROW_FILTERS.every((key) => !state[key] || row.dataset[key] === state[key]);
      row.classList.toggle(HIDDEN, !shown);
    });
    tables.forEach((table) => {
      const head = headerRow(table);
      const hidden = Array.from(head.cells).map((th) => !columnShown(th));
      Array.from(table.rows).forEach((row) => {
        if (row.cells.length !== head.cells.length) return;  // a "no rows yet" line spanning the table
        Array.from(row.cells).forEach((cell, i) => cell.classList.toggle(HIDDEN, hidden[i]));
      });
    });
    const status = document.getElementById('filter-status');
    if (status) {
      const key = (row) => [row.dataset.model, row.dataset.method, row.dataset.intermediate, row.dataset.variant || ''].join('\u0000');
      const shown = new Set(rows.filter((row) => !row.classList.contains(HIDDEN)).map(key));
      status.textContent = 'Showing ' + shown.size + ' of ' + new Set(rows.map(key)).size + ' rows.';
    }
  }

  // ---- permalinks ------------------------------------------------------------------------------
  function writeHash() {
    const params = new URLSearchParams();
    Object.keys(state).forEach((key) => { if (state[key]) params.set(key, state[key]); });
    const hash = params.toString() ? '#' + params.toString() : '';
    if (hash === writtenHash || (!hash && !location.hash)) return;
    writtenHash = hash;
    try {
      history.replaceState(history.state, '', location.href.split('#')[0] + hash);
    } catch (e) {
      location.replace('#' + hash.slice(1));  // where a file:// page may not use the history API
    }
  }
  function readHash() {  // false for a plain anchor such as #main, which leaves the view alone
    const params = new URLSearchParams(location.hash.slice(1));
    if (location.hash && !Object.keys(state).some((key) => params.has(key))) return false;
    Object.keys(state).forEach((key) => { state[key] = params.get(key) || ''; });
    return true;
  }
  function update() {
    applyFilters();
    syncControls();
    writeHash();
  }

  // ---- sorting ------------------------------------------------------------------------------------
  function restoreSort() {
    const parts = state.sort.split(':');
    const table = document.getElementById(parts[0]);
    const th = table && table.classList.contains('sortable') && table.tHead ? headerRow(table).cells[+parts[1]] : null;
    if (!th || typeof window.sortSortable !== 'function') { state.sort = ''; return; }
    Array.from(th.parentNode.cells).forEach((cell) => cell.removeAttribute('aria-sort'));
    th.setAttribute('aria-sort', parts[2] === 'asc' ? 'ascending' : 'descending');
    window.sortSortable(table, false);  // dispatches sort-end, which records the sort
  }
  document.addEventListener('sort-end', (event) => {
    const table = event.target;
    const th = table.tHead && table.tHead.querySelector('th[aria-sort]');
    if (!th || !table.id) return;
    state.sort = table.id + ':' + th.cellIndex + ':' + (th.getAttribute('aria-sort') === 'ascending' ? 'asc' : 'desc');
    writeHash();
  });
  document.addEventListener('keydown', (event) => {  // the a11y plugin sorts on Enter; Space too
    const th = event.target;
    if (event.key === ' ' && th.matches && th.matches('table.sortable thead th[tabindex]')) {
      event.preventDefault();
      th.click();
    }
  });
  // Cells without a number ("–") sort last either way: the library's n-last class and an empty data-sort.
  document.querySelectorAll('table.sortable').forEach((table) => {
    table.classList.add('n-last');
    table.querySelectorAll('tbody td:not([data-sort])').forEach((td) => {
      if (td.textContent.trim() === '\u2013') td.dataset.sort = '';
    });
  });
  // The a11y plugin makes every <th> of a sortable table focusable, row headers in <tbody> too, which
  // sort nothing. It skips cells that already have a tabindex, so give them one until it has run.
  const rowHeaders = Array.from(document.querySelectorAll('table.sortable tbody th:not([tabindex])'));
  rowHeaders.forEach((th) => th.setAttribute('tabindex', '-1'));
  document.addEventListener('DOMContentLoaded', () => rowHeaders.forEach((th) => th.removeAttribute('tabindex')));

  // ---- CSV of the visible rows ------------------------------------------------------------------------
  const shownCells = (row) => Array.from(row.cells).filter((cell) => !cell.classList.contains(HIDDEN));
  const cellText = (cell) => (cell.innerText || cell.textContent).replace(/\s+/g, ' ').trim();
  const csvField = (text) => (/[",\r\n]/.test(text) ? '"' + text.replace(/"/g, '""') + '"' : text);

  function visibleCsv(table) {
    const head = headerRow(table);
    const lines = [shownCells(head)];
    Array.from(table.tBodies).forEach((body) => Array.from(body.rows).forEach((row) => {
      if (!row.classList.contains(HIDDEN) && row.cells.length === head.cells.length) lines.push(shownCells(row));
    }));
    return lines.map((cells) => cells.map((cell) => csvField(cellText(cell))).join(',')).join('\r\n') + '\r\n';
  }
  function download(table) {
    const page = (location.pathname.split('/').pop() || 'index.html').replace(/\.html$/, '');
    const link = make('a', { download: page + '-' + table.id + '.csv', hidden: '' });
    link.href = URL.createObjectURL(new Blob(['\ufeff' + visibleCsv(table)], { type: 'text/csv;charset=utf-8' }));
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 10000);
  }
  function addDownloads() {
    document.querySelectorAll('main table.sortable[id]').forEach((table) => {
      const button = make('button', { type: 'button', class: 'download', 'data-table': table.id },
        ['Download visible rows (CSV)']);
      if (table.caption && table.caption.id) button.setAttribute('aria-describedby', table.caption.id);
      button.addEventListener('click', () => download(table));
      const wrapper = table.parentElement.classList.contains('wide') ? table.parentElement : table;
      wrapper.after(make('p', { class: 'table-tools' }, [button]));
    });
  }

  // ---- start ----------------------------------------------------------------------------------------
  addThemeSwitch();
  addControls();
  addDownloads();
  readHash();
  syncControls();
  applyFilters();
  if (state.sort) restoreSort();
  window.addEventListener('hashchange', () => {
    if (location.hash === writtenHash || !readHash()) return;
    syncControls();
    applyFilters();
    if (state.sort) restoreSort();
  });
}());
