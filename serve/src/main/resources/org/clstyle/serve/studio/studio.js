// clstyle studio: the page behind `clstyle serve`. Plain JS, no libraries; talks to the JSON API
// documented in the README (POST /api/jobs, GET /api/jobs/{id}/events as Server-Sent Events, ...).
'use strict';

const $ = (id) => document.getElementById(id);
const SERIES = [  // drawn in this order: the total last, dashed, over the term that dominates it
  { key: 'style', label: 'style', color: '#c0392b' },
  { key: 'content', label: 'content', color: '#2a5db0' },
  { key: 'tv', label: 'TV', color: '#27ae60' },
  { key: 'total', label: 'total', color: '#222' },
];
const FIELDS = ['preset', 'size', 'iterations', 'optimizer', 'styleWeight', 'contentWeight', 'tvWeight', 'styleScale',
  'previewEvery', 'init', 'seed'];
const TERMINAL = ['finished', 'stopped', 'cancelled', 'failed'];

let contentFile = null;   // File chosen or dropped
let styleFiles = [];      // File[]
let inputsFrom = null;    // job id whose images a reloaded run reuses
let job = null;           // the job shown: {id, state, ...}
let events = null;        // EventSource of that job
let rows = [];            // [iteration, content, style, tv, total]

function showError(msg) {
  const e = $('error');
  e.textContent = msg;
  e.hidden = !msg;
}

async function api(method, url, body) {
  let res;
  try {
    res = await fetch(url, { method, body });
  } catch (err) {
    throw new Error('the studio is not reachable (' + err.message + ')');
  }
  let data = null;
  try { data = await res.json(); } catch (_) { /* not JSON */ }
  if (!res.ok) {
    throw new Error((data && data.error) || ('HTTP ' + res.status));
  }
  return data;
}

// ---- images ----

function thumbs(el, files) {
  el.replaceChildren();
  for (const f of files) {
    const img = document.createElement('img');
    img.alt = f.name;
    img.title = f.name;
    if (f.url) {
      img.src = f.url;
    } else {
      img.src = URL.createObjectURL(f);
      img.onload = () => URL.revokeObjectURL(img.src);
    }
    el.appendChild(img);
  }
}

function setContent(file) {
  contentFile = file;
  thumbs($('content-thumbs'), file ? [file] : []);
  if (contentFile && styleFiles.length) clearReuse();
}

function setStyles(files) {
  styleFiles = Array.from(files);
  thumbs($('style-thumbs'), styleFiles);
  if (contentFile && styleFiles.length) clearReuse();
}

/** New files for both inputs: a reloaded run's images are no longer used. */
function clearReuse() {
  inputsFrom = null;
  $('reuse').hidden = true;
}

function dropZone(zone, onFiles) {
  zone.addEventListener('dragover', (e) => { e.preventDefault(); zone.classList.add('over'); });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (e) => {
    e.preventDefault();
    zone.classList.remove('over');
    if (e.dataTransfer && e.dataTransfer.files.length) onFiles(e.dataTransfer.files);
  });
}

// ---- form ----

function fillForm(s) {
  for (const f of FIELDS) {
    if (s[f] !== undefined && s[f] !== null) $(f).value = s[f];
    else if (s[f] === null && ($(f).tagName === 'INPUT' || f === 'preset')) $(f).value = '';
  }
  $('originalColors').checked = !!s.originalColors;
}

function formData() {
  const fd = new FormData();
  for (const f of FIELDS) {
    const v = $(f).value.trim();
    if (v !== '') fd.append(f, v);
  }
  fd.append('originalColors', $('originalColors').checked ? 'true' : 'false');
  if (contentFile) fd.append('content', contentFile, contentFile.name);
  for (const f of styleFiles) fd.append('style', f, f.name);
  if (inputsFrom && (!contentFile || !styleFiles.length)) fd.append('inputsFrom', inputsFrom);
  return fd;
}

async function start() {
  showError('');
  if (!contentFile && !inputsFrom) { showError('content: choose a content image (PNG or JPEG)'); return; }
  if (!styleFiles.length && !inputsFrom) { showError('style: choose at least one style image (PNG or JPEG)'); return; }
  $('start').disabled = true;
  try {
    const j = await api('POST', '/api/jobs', formData());
    watch(j.id);
    loadQueue();
  } catch (err) {
    showError(err.message);
  } finally {
    $('start').disabled = false;
  }
}

async function control(action) {
  if (!job) return;
  showError('');
  try {
    const j = await api('POST', '/api/jobs/' + job.id + '/' + action);
    applyState(j);
  } catch (err) {
    showError(err.message);
  }
}

// ---- a job's events ----

function watch(id) {
  if (events) events.close();
  rows = [];
  $('notes').replaceChildren();
  $('preview').hidden = true;
  $('preview').removeAttribute('src');
  $('download').hidden = true;
  drawChart();
  events = new EventSource('/api/jobs/' + id + '/events');
  events.addEventListener('snapshot', (e) => {
    const s = JSON.parse(e.data);
    rows = s.losses.map((r) => r.slice());
    $('notes').replaceChildren();
    for (const n of s.notes) addNote(n);
    applyState(s);
    if (s.preview && !s.result) setPreview(s.preview);
    drawChart();
  });
  events.addEventListener('state', (e) => applyState(JSON.parse(e.data)));
  events.addEventListener('progress', (e) => {
    const p = JSON.parse(e.data);
    const last = rows.length ? rows[rows.length - 1][0] : 0;
    if (p.iteration > last) {
      const l = p.loss;
      rows.push([p.iteration, l.content || 0, l.style || 0, l.tv || 0, l.total || 0]);
    }
    showProgress(p);
    drawChart();
  });
  events.addEventListener('preview', (e) => setPreview(JSON.parse(e.data).url));
  events.addEventListener('note', (e) => addNote(JSON.parse(e.data).note));
  events.addEventListener('error', (e) => {
    if (e.data) showError(JSON.parse(e.data).error);
    if (job && TERMINAL.includes(job.state)) { events.close(); events = null; }
  });
}

function addNote(n) {
  const li = document.createElement('li');
  li.textContent = n;
  $('notes').appendChild(li);
}

function setPreview(url) {
  const img = $('preview');
  img.src = url;
  img.hidden = false;
}

function fmtTime(s) {
  if (s === undefined || s === null) return '–';
  s = Math.round(s);
  return s >= 60 ? Math.floor(s / 60) + ' min ' + (s % 60) + ' s' : s + ' s';
}

function showProgress(p) {
  $('iteration').textContent = p.iteration + ' / ' + p.total;
  $('speed').textContent = p.speed ? (p.speed >= 1 ? p.speed.toFixed(2) + ' it/s' : (1 / p.speed).toFixed(2) + ' s/it') : '–';
  $('eta').textContent = fmtTime(p.eta);
}

function applyState(s) {
  job = s;
  const st = s.state;
  let text = 'Job ' + s.id + ': ' + st;
  if (st === 'queued') text += ' (position ' + s.position + ' in the queue)';
  if (s.message) text += ' (' + s.message + ')';
  $('status').textContent = text;
  $('status').dataset.state = st;
  showProgress(s);
  const active = st === 'running' || st === 'paused';
  $('pause').disabled = !active;
  $('pause').textContent = st === 'paused' ? 'Resume' : 'Pause';
  $('stop').disabled = !(active || st === 'queued');
  $('start').disabled = false;
  if (st === 'failed' && s.message) showError(s.message);
  if (s.result) {
    setPreview(s.result + '?t=' + Date.now());
    const a = $('download');
    a.href = s.result + '?download=1';
    a.setAttribute('download', 'clstyle-' + s.id + '.png');
    a.hidden = false;
  } else {
    $('download').hidden = true;
  }
  if (TERMINAL.includes(st)) {
    if (events) { events.close(); events = null; }
    loadHistory();
  }
  loadQueue();
}

// ---- the device's queue: running and waiting jobs, any of them can be watched ----

let queueTimer = null;

async function loadQueue() {
  let list;
  try {
    list = (await api('GET', '/api/jobs')).jobs.filter((j) => !TERMINAL.includes(j.state));
  } catch (err) {
    return;
  }
  list.sort((a, b) => (a.position || 0) - (b.position || 0));
  const ul = $('queue');
  const sig = JSON.stringify(list.map((j) => [j.id, j.state, j.position, j.iteration])) + (job ? job.id : '');
  clearTimeout(queueTimer);
  if (list.length) queueTimer = setTimeout(loadQueue, 2000);
  if (ul.dataset.sig === sig) return; // unchanged: keep the elements (and a click in progress)
  ul.dataset.sig = sig;
  ul.replaceChildren();
  for (const j of list) {
    const li = document.createElement('li');
    li.dataset.job = j.id;
    li.textContent = j.id + ' ' + (j.state === 'queued' ? 'queued #' + j.position : j.state + ' ' + j.iteration + '/' + j.total);
    if (job && job.id === j.id) li.className = 'watched';
    li.title = 'watch this job';
    li.onclick = () => watch(j.id);
    ul.appendChild(li);
  }
  ul.hidden = list.length === 0;
}

// ---- chart: the weighted loss terms on a log scale ----

function drawChart() {
  const c = $('chart');
  const ratio = window.devicePixelRatio || 1;
  const w = c.clientWidth || 560, h = c.clientHeight || 220;
  if (c.width !== Math.round(w * ratio)) { c.width = Math.round(w * ratio); c.height = Math.round(h * ratio); }
  const g = c.getContext('2d');
  g.setTransform(ratio, 0, 0, ratio, 0, 0);
  g.clearRect(0, 0, w, h);
  c.dataset.points = String(rows.length);
  const L = 56, R = 10, T = 10, B = 24;
  g.strokeStyle = '#ccc';
  g.strokeRect(L, T, w - L - R, h - T - B);
  g.fillStyle = '#777';
  g.font = '11px system-ui, sans-serif';
  if (!rows.length) {
    g.fillText('no iterations yet', L + 10, T + 20);
    return;
  }
  const idx = { content: 1, style: 2, tv: 3, total: 4 };
  let lo = Infinity, hi = -Infinity;
  for (const r of rows) for (const s of SERIES) {
    const v = r[idx[s.key]];
    if (v > 0) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
  }
  if (!isFinite(lo)) { lo = 1; hi = 10; }
  let l0 = Math.floor(Math.log10(lo)), l1 = Math.ceil(Math.log10(hi));
  if (l1 === l0) l1 = l0 + 1;
  const x0 = rows[0][0], x1 = Math.max(rows[rows.length - 1][0], x0 + 1);
  const X = (i) => L + (i - x0) / (x1 - x0) * (w - L - R);
  const Y = (v) => T + (1 - (Math.log10(v) - l0) / (l1 - l0)) * (h - T - B);
  g.textAlign = 'right';
  for (let e = l0; e <= l1; e++) {
    const y = Y(Math.pow(10, e));
    g.strokeStyle = '#eee';
    g.beginPath(); g.moveTo(L, y); g.lineTo(w - R, y); g.stroke();
    g.fillText('1e' + e, L - 4, y + 4);
  }
  g.textAlign = 'center';
  g.fillText(String(x0), L, h - 8);
  g.fillText(String(x1), w - R - 8, h - 8);
  g.fillText('iteration', (L + w - R) / 2, h - 8);
  for (const s of SERIES) {
    g.strokeStyle = s.color;
    g.lineWidth = 1.5;
    g.setLineDash(s.key === 'total' ? [5, 4] : []);
    g.beginPath();
    let started = false;
    for (const r of rows) {
      const v = r[idx[s.key]];
      if (!(v > 0)) { started = false; continue; }
      if (!started) { g.moveTo(X(r[0]), Y(v)); started = true; } else g.lineTo(X(r[0]), Y(v));
    }
    if (rows.length === 1 && rows[0][idx[s.key]] > 0) {
      g.arc(X(rows[0][0]), Y(rows[0][idx[s.key]]), 2, 0, 2 * Math.PI);
    }
    g.stroke();
  }
  g.lineWidth = 1;
  g.setLineDash([]);
}

function legend() {
  const el = $('legend');
  for (const s of SERIES) {
    const span = document.createElement('span');
    const i = document.createElement('i');
    i.style.background = s.color;
    span.append(i, s.label);
    el.appendChild(span);
  }
}

// ---- history ----

function summary(s) {
  const parts = [s.size + ' px', s.iterations + ' it', s.optimizer,
    'style ' + (s.styleWeight ?? 'default'), 'content ' + (s.contentWeight ?? 'default'),
    'TV ' + (s.tvWeight ?? 'default'), 'scale ' + s.styleScale];
  if (s.originalColors) parts.push('original colours');
  if (s.preset) parts.unshift('preset ' + s.preset);
  return parts.join(' · ');
}

async function loadHistory() {
  let list;
  try {
    list = (await api('GET', '/api/jobs')).jobs;
  } catch (err) {
    return;
  }
  const ul = $('history');
  ul.replaceChildren();
  for (const j of list) {
    if (!TERMINAL.includes(j.state) || j.state === 'cancelled') continue; // runs that ran
    const li = document.createElement('li');
    li.dataset.job = j.id;
    if (j.result) {
      const img = document.createElement('img');
      img.src = j.result;
      img.alt = 'result of ' + j.id;
      li.appendChild(img);
    }
    const head = document.createElement('div');
    head.innerHTML = '<b></b> <span class="muted"></span>';
    head.querySelector('b').textContent = j.id + ' ' + j.state;
    head.querySelector('span').textContent = j.iteration + '/' + j.total + ' it, '
      + j.inputs.content.name + ' + ' + j.inputs.styles.map((x) => x.name).join(', ');
    li.appendChild(head);
    const set = document.createElement('div');
    set.className = 'muted';
    set.textContent = summary(j.settings);
    li.appendChild(set);
    const row = document.createElement('div');
    row.className = 'row';
    const reload = document.createElement('button');
    reload.type = 'button';
    reload.textContent = 'Reload';
    reload.className = 'reload';
    reload.onclick = () => reloadJob(j);
    row.appendChild(reload);
    if (j.result) {
      const a = document.createElement('a');
      a.className = 'button';
      a.href = j.result + '?download=1';
      a.setAttribute('download', 'clstyle-' + j.id + '.png');
      a.textContent = 'PNG';
      row.appendChild(a);
    }
    li.appendChild(row);
    ul.appendChild(li);
  }
}

/** Puts a finished run's settings and images back into the form and shows its image and chart. */
function reloadJob(j) {
  fillForm(j.settings);
  contentFile = null;
  styleFiles = [];
  $('content-file').value = '';
  $('style-files').value = '';
  inputsFrom = j.id;
  thumbs($('content-thumbs'), [{ name: j.inputs.content.name, url: j.inputs.content.url }]);
  thumbs($('style-thumbs'), j.inputs.styles.map((s) => ({ name: s.name, url: s.url })));
  $('reuse').textContent = 'Using the images of run ' + j.id + '; choose files to replace them.';
  $('reuse').hidden = false;
  watch(j.id);
}

// ---- start-up ----

async function init() {
  legend();
  drawChart();
  $('content-file').addEventListener('change', (e) => setContent(e.target.files[0] || null));
  $('style-files').addEventListener('change', (e) => setStyles(e.target.files));
  // A file dropped outside the drop zones must not replace the page with the image.
  window.addEventListener('dragover', (e) => e.preventDefault());
  window.addEventListener('drop', (e) => e.preventDefault());
  dropZone($('content-drop'), (files) => setContent(files[0]));
  dropZone($('style-drop'), (files) => setStyles(files));
  $('start').addEventListener('click', start);
  $('pause').addEventListener('click', () => control(job && job.state === 'paused' ? 'resume' : 'pause'));
  $('stop').addEventListener('click', () => control('stop'));
  window.addEventListener('resize', drawChart);
  try {
    const info = await api('GET', '/api/info');
    for (const p of info.presets || []) {
      const o = document.createElement('option');
      o.value = p.name;
      o.textContent = p.name;
      o.title = p.description;
      $('preset').appendChild(o);
    }
    // A preset sets the loss, the optimiser and the start image: its weights apply while the weight fields
    // are empty (anything typed there overrides it, as flags do on the command line).
    $('preset').addEventListener('change', () => {
      const p = (info.presets || []).find((x) => x.name === $('preset').value);
      if (p) {
        for (const f of ['styleWeight', 'contentWeight', 'tvWeight']) $(f).value = '';
        $('optimizer').value = p.optimizer;
        $('init').value = p.init;
        $('preset').title = p.description;
      } else {
        fillForm(info.defaults);
        $('preset').title = '';
      }
    });
    fillForm(info.defaults);
    $('info').textContent = 'weights ' + info.weights + (info.device ? ' · device ' + info.device : '');
    $('size').max = info.limits.maxSize;
    $('iterations').max = info.limits.maxIterations;
  } catch (err) {
    showError(err.message);
  }
  await loadHistory();
  try {
    const list = (await api('GET', '/api/jobs')).jobs;
    const live = list.filter((j) => !TERMINAL.includes(j.state)).pop(); // the oldest: running first
    if (live) watch(live.id);
  } catch (_) { /* shown above */ }
  loadQueue();
}

init();
