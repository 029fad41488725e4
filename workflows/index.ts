export { campaignWorkflow } from './campaign';
export { callContactWorkflow } from './call-contact';
