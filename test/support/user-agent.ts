export { UserAgent, formEndingWith, parseForms, type PageForm } from '../../scripts/lib/form-agent.js';
