import { api } from '/web/shared/api.js';
const status = document.getElementById('status');
api('users/', { body: { device_id: 'placeholder', client_type: 'web' } })
  .then((u) => api('projects/', { token: u.token }))
  .then(() => (status.textContent = 'Ready.'))
  .catch((e) => (status.textContent = e.message));
