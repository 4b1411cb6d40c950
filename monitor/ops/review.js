// The review page's Leaflet control: a from/to date filter over the landslide layers, and a
// region picker that zooms to a watched region (regions may lie continents apart).
//
// Package data of monitor.ops, loaded by monitor/ops/review.py, which calls this function once
// the map and its landslide layers exist. Region names reach the picker as text, never markup.
(function (map, layers, regionBounds, allBounds, total) {
  var items = [];
  layers.forEach(function (group) {
    group.eachLayer(function (layer) { items.push({group: group, layer: layer}); });
  });
  var control = L.control({position: 'topright'});
  control.onAdd = function () {
    var div = L.DomUtil.create('div', 'ls-filter leaflet-bar');
    div.id = 'ls-filter';
    div.innerHTML =
      '<b>Zoom to</b> <select id="ls-zoom"><option value="">all regions</option>' +
      '</select><br>' +
      '<b>Date filter</b><br>' +
      '<select id="ls-field"><option value="first_seen">first seen</option>' +
      '<option value="last_seen">last seen</option></select><br>' +
      'from <input type="date" id="ls-from"><br>' +
      'to&nbsp;&nbsp;&nbsp; <input type="date" id="ls-to"><br>' +
      '<button type="button" id="ls-reset">show all</button> ' +
      '<span id="ls-shown"></span>';
    var zoom = div.querySelector('#ls-zoom');
    Object.keys(regionBounds).forEach(function (name) {
      var option = document.createElement('option');  // text, never markup
      option.value = name;
      option.textContent = name;
      zoom.appendChild(option);
    });
    L.DomEvent.disableClickPropagation(div);
    L.DomEvent.disableScrollPropagation(div);
    return div;
  };
  control.addTo(map);
  function apply() {
    var field = document.getElementById('ls-field').value;
    var from = document.getElementById('ls-from').value;
    var to = document.getElementById('ls-to').value;
    var shown = 0;
    items.forEach(function (item) {
      var d = item.layer.feature.properties[field];
      var keep = (!from || d >= from) && (!to || d <= to);
      if (keep && !item.group.hasLayer(item.layer)) { item.group.addLayer(item.layer); }
      if (!keep && item.group.hasLayer(item.layer)) { item.group.removeLayer(item.layer); }
      if (keep && map.hasLayer(item.group)) { shown += 1; }  // its layer not switched off
    });
    document.getElementById('ls-shown').textContent = shown + ' of ' + total + ' shown';
  }
  map.on('overlayadd overlayremove', apply);  // a status layer switched in the layer control
  ['ls-field', 'ls-from', 'ls-to'].forEach(function (id) {
    document.getElementById(id).addEventListener('change', apply);
  });
  document.getElementById('ls-reset').addEventListener('click', function () {
    document.getElementById('ls-from').value = '';
    document.getElementById('ls-to').value = '';
    apply();
  });
  document.getElementById('ls-zoom').addEventListener('change', function (e) {
    var bounds = e.target.value ? regionBounds[e.target.value] : allBounds;
    if (bounds) { fitTo(bounds); }
  });
  // Leaflet drops a view asked for while a zoom animation (the page's opening fit) is still
  // running (Map._tryAnimatedZoom); a region picked then waits for that animation to end.
  function fitTo(bounds) {
    if (map._animatingZoom) {
      map.once('zoomend', function () { fitTo(bounds); });
    } else {
      map.fitBounds(bounds);
    }
  }
  // The legend lies fixed above the map's panes, popups included: it steps aside while a
  // popup is open, whose confirm/dismiss commands it hid where the popup opened near it.
  var legend = document.getElementById('ls-legend');
  if (legend) {
    map.on('popupopen', function () { legend.style.display = 'none'; });
    map.on('popupclose', function () { legend.style.display = ''; });
  }
  window.landslideReview = {map: map, layers: layers, items: items, apply: apply};
  apply();
})
